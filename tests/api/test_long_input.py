"""Prompts over a mode's input limit (``chat.long_input``), and modes DeepSeek switched off.

The simulator's default mode takes 2000 characters and its expert mode 3000 (``client/settings``).
With ``"file"`` (the default) a longer conversation still gets its answer: the history goes up as
a text file, the last turn is the prompt, whether the server knew the limit beforehand (expert: it
asked ``client/settings``) or learned it from DeepSeek's ``input_exceeds_limit`` (default: a short
prompt is not worth asking about). With ``"refuse"`` it is a 413 that names the limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import API_KEY, Stack, simulator_config, start_stack
from tests.api.dialects import DIALECTS, error_message

LIMITS = {"default": 2000, "expert": 3000}
MODELS = {"default": "deepseek-chat", "expert": "deepseek-v4-pro-nothinking"}


def conversation(turn_chars: int = 900) -> list[dict[str, str]]:
    """Three exchanges of ``turn_chars`` characters each side, then a short question."""
    messages: list[dict[str, str]] = []
    for index in range(3):
        messages.append({"role": "user", "content": f"question {index} " + "q" * turn_chars})
        messages.append({"role": "assistant", "content": f"answer {index} " + "a" * turn_chars})
    messages.append({"role": "user", "content": "and the last question?"})
    return messages


def config(**changes: Any) -> Any:
    models = [{"model_type": kind, "input_character_limit": limit} for kind, limit in LIMITS.items()]
    models.append({"model_type": "vision", "enabled": False})
    return simulator_config(difficulty=64, models=models, file_parse_seconds=0.05, **changes)


@pytest.fixture(scope="module")
def by_file() -> Iterator[Stack]:
    yield from start_stack(config(), min_interval_s=0.0)


@pytest.fixture(scope="module")
def refusing() -> Iterator[Stack]:
    yield from start_stack(config(), min_interval_s=0.0, **{"chat.long_input": "refuse"})


def chat(stack: Stack, model: str, messages: list[dict[str, str]]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    body = {"model": model, "messages": messages}
    return httpx.post(stack.base_url + "/chat/completions", json=body, headers=headers, timeout=60)


@pytest.mark.parametrize("mode", ["default", "expert"])
def test_a_conversation_over_the_limit_goes_up_as_a_file_and_is_answered(by_file: Stack, mode: str) -> None:
    messages = conversation(turn_chars=LIMITS[mode] // 3)
    folded = sum(len(m["content"]) for m in messages)
    assert folded > LIMITS[mode]
    before = len(by_file.upstream_requests("/chat/completion"))
    hints = by_file.sim("GET", "/_sim/state")["counters"].get("hint_input_exceeds_limit", 0)
    response = chat(by_file, MODELS[mode], messages)
    assert response.status_code == 200, response.text
    content = response.json()["choices"][0]["message"]["content"]
    assert content.startswith("Echo: and the last question?") and "files=1" in content, content
    sent = by_file.upstream_requests("/chat/completion")[before:][-1]
    assert len(sent["prompt"]) <= LIMITS[mode] and sent["prompt"].endswith("and the last question?")
    assert "conversation-history.txt" in sent["prompt"] and len(sent["body"]["ref_file_ids"]) == 1
    uploaded = [
        f for f in by_file.sim("GET", "/_sim/state")["files"] if f["id"] in sent["body"]["ref_file_ids"]
    ]
    assert uploaded[0]["file_name"] == "conversation-history.txt" and uploaded[0]["file_size"] > LIMITS[mode]
    new_hints = by_file.sim("GET", "/_sim/state")["counters"].get("hint_input_exceeds_limit", 0) - hints
    # default: learned from DeepSeek's hint (one refused try); expert: known from client/settings.
    assert new_hints == (1 if mode == "default" else 0)


def test_one_message_over_the_limit_goes_up_whole_as_the_file(by_file: Stack) -> None:
    response = chat(by_file, "deepseek-chat", [{"role": "user", "content": "z" * 5000}])
    assert response.status_code == 200, response.text
    assert "files=1" in response.json()["choices"][0]["message"]["content"]


def test_refuse_answers_413_naming_the_limit(refusing: Stack) -> None:
    for mode in ("default", "expert"):
        response = chat(refusing, MODELS[mode], conversation(turn_chars=LIMITS[mode] // 3))
        assert response.status_code == 413, response.text
        error = response.json()["error"]
        assert error["code"] == "context_length_exceeded"
        assert f"> {LIMITS[mode]} maximum" in error["message"] and "chat.long_input" in error["message"]
    anthropic = next(d for d in DIALECTS if d.name == "anthropic")
    response = httpx.post(
        refusing.server.url + anthropic.path,
        json=anthropic.body("y" * 3000),
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=60,
    )
    # Anthropic's own wording and status for a prompt over the limit, which agents act on.
    assert response.status_code == 400 and error_message(response).startswith("prompt is too long")


def test_a_mode_switched_off_upstream_is_a_clear_error_not_an_empty_answer(by_file: Stack) -> None:
    before = len(by_file.upstream_requests("/chat/completion"))
    response = chat(by_file, "deepseek-v4-vision", [{"role": "user", "content": "what is in it?"}])
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "model_disabled" and "vision mode off" in error["message"]
    assert len(by_file.upstream_requests("/chat/completion")) == before  # known from client/settings
