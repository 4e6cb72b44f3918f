"""A prompt sent again (an agent's tool instructions, a replayed history) is not counted again.

Counting costs ~0.3 ms of CPU per 1,000 characters; agents send tens of thousands of the same
characters with every request (README "Session reuse": Claude Code 48,912 per turn).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from deepseek_free_api.chat.tokens import TokenCounter
from tests.api.conftest import API_KEY, Stack, simulator_config, start_stack
from tests.support.encoding_spy import spying


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from start_stack(simulator_config())


def _instructions() -> str:
    """~60,000 characters of tool instructions, new to this process (nothing of it counted before)."""
    tag = uuid.uuid4().hex
    line = "- tool_{tag}_{i}(path: str, line: int) edits the file at path; call it as shown {i}."
    lines = [line.format(tag=tag, i=i) for i in range(700)]
    return "You can use these tools:\n" + "\n".join(lines)


def test_the_same_instructions_again_are_not_counted_again(stack: Stack) -> None:
    with spying(TokenCounter.load()) as spy:
        instructions = _instructions()
        assert len(instructions) > 60_000
        body = {
            "model": "deepseek-chat",
            "messages": [
                {"role": "system", "content": instructions},
                {"role": "user", "content": "list the files"},
            ],
        }
        headers = {"Authorization": f"Bearer {API_KEY}"}
        encoded, usages = [], []
        for _ in range(2):
            spy.encoded = 0
            reply = httpx.post(f"{stack.base_url}/chat/completions", json=body, headers=headers, timeout=60)
            assert reply.status_code == 200, reply.text
            encoded.append(spy.encoded)
            usages.append(reply.json()["usage"])
    assert usages[0] == usages[1] and usages[0]["prompt_tokens"] > 10_000
    assert encoded[0] > len(instructions)
    # The second time only the user's turn and the answer are counted; before, all of the
    # prompt's ~60,000 characters were encoded again.
    assert encoded[1] < 1_000, encoded


def test_count_tokens_counts_the_same_system_prompt_once(stack: Stack) -> None:
    with spying(TokenCounter.load()) as spy:
        body = {
            "model": "claude-sonnet-4-5",
            "system": _instructions(),
            "messages": [{"role": "user", "content": "what is in this folder?"}],
        }
        headers = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}
        encoded, counts = [], []
        for _ in range(2):
            spy.encoded = 0
            url = f"{stack.base_url}/messages/count_tokens"
            reply = httpx.post(url, json=body, headers=headers, timeout=60)
            assert reply.status_code == 200, reply.text
            encoded.append(spy.encoded)
            counts.append(reply.json()["input_tokens"])
    assert counts[0] == counts[1] > 10_000
    assert encoded[0] > 60_000 and encoded[1] < 100, encoded
