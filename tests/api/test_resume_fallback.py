"""A follow-up whose session cannot go on (busy account, parked account) is replayed in a new session."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.api.conftest import API_KEY, Stack, sdk_client, simulator_config, start_stack

# About 3 s of answer: long enough to keep an account busy past chat.resume_wait_s.
SLOW = {
    "pattern": "^SLOW",
    "answer": "{echo}",
    "answer_chars": 300,
    "pacing": {"chunks_per_second": 10, "chunk_chars": 10},
}
RESUME_WAIT_S = 0.5


@pytest.fixture
def stack() -> Iterator[Stack]:
    yield from start_stack(
        simulator_config(scripts=[SLOW]), min_interval_s=0.0, **{"chat.resume_wait_s": RESUME_WAIT_S}
    )


def completions(stack: Stack) -> list[dict[str, object]]:
    return stack.upstream_requests("/chat/completion")


def first_turn(stack: Stack) -> tuple[str, dict[str, object]]:
    api = sdk_client(openai.OpenAI, stack.base_url, API_KEY)
    first = api.responses.create(model="deepseek-chat", input="first question")
    return first.id, completions(stack)[-1]


def follow_up(stack: Stack, previous: str) -> str:
    api = sdk_client(openai.OpenAI, stack.base_url, API_KEY)
    reply = api.responses.create(model="deepseek-chat", previous_response_id=previous, input="second")
    assert reply.output_text.startswith("Echo: second")
    return reply.id


def test_a_follow_up_whose_account_stays_busy_is_replayed_in_a_new_session(stack: Stack) -> None:
    previous, started = first_turn(stack)

    def occupy(text: str) -> None:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        body = {"model": "deepseek-chat", "messages": [{"role": "user", "content": text}]}
        httpx.post(stack.base_url + "/chat/completions", json=body, headers=headers, timeout=60)

    # Both accounts busy for about 3 s: the session's account cannot serve within resume_wait_s.
    threads = [threading.Thread(target=occupy, args=(f"SLOW {n}",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while len([c for c in completions(stack) if str(c["prompt"]).startswith("SLOW")]) < 2:
        assert time.monotonic() < deadline, "the slow answers never started"
        time.sleep(0.05)
    replayed = follow_up(stack, previous)
    for thread in threads:
        thread.join()
    sent = [c for c in completions(stack) if not str(c["prompt"]).startswith("SLOW")][-1]
    body = sent["body"]
    assert isinstance(body, dict) and isinstance(started["body"], dict)
    assert body["parent_message_id"] is None and body["chat_session_id"] != started["body"]["chat_session_id"]
    assert str(sent["prompt"]).startswith("first question<｜Assistant｜>Echo: first question")
    goes_on_in(stack, replayed, sent)


def goes_on_in(stack: Stack, previous: str, replay: dict[str, object]) -> None:
    """The next follow-up goes on in the session of the replay, with only its input."""
    follow_up(stack, previous)
    sent = completions(stack)[-1]
    assert sent["prompt"] == "second"
    assert isinstance(sent["body"], dict) and isinstance(replay["body"], dict)
    assert sent["body"]["chat_session_id"] == replay["body"]["chat_session_id"]


def test_a_follow_up_whose_account_is_muted_is_replayed_on_another_account(stack: Stack) -> None:
    previous, started = first_turn(stack)
    stack.sim("POST", f"/_sim/accounts/{started['account']}", json={"mute_seconds": 600})
    replayed = follow_up(stack, previous)
    sent = completions(stack)[-1]
    assert sent["account"] != started["account"]
    assert str(sent["prompt"]).startswith("first question<｜Assistant｜>")
    assert isinstance(sent["body"], dict) and sent["body"]["parent_message_id"] is None
    goes_on_in(stack, replayed, sent)


def test_a_follow_up_goes_on_in_its_session_when_its_account_frees_in_time(stack: Stack) -> None:
    previous, started = first_turn(stack)
    second = follow_up(stack, previous)
    follow_up(stack, second)
    sent = completions(stack)[-2:]
    assert [c["prompt"] for c in sent] == ["second", "second"]
    assert all(c["account"] == started["account"] for c in sent)
