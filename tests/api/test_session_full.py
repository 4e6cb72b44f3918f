"""A DeepSeek conversation at its length limit ("Length limit reached. Please start a new chat.").

DeepSeek ends a conversation after so many messages; the simulator after ``session_max_messages``
(it answers with the ``input_exceeds_limit`` hint, as a too-long prompt gets). A follow-up that
would go on in such a session (``previous_response_id``, or an agent's reused session) is
replayed in a new session with the whole history instead, and goes on there afterwards; a
``conversation_id`` the caller holds cannot be replayed (the server has no history for it): the
answer says the conversation reached its length limit, never that the prompt was too long.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import API_KEY, Stack, simulator_config, start_stack

HEADERS = {"Authorization": f"Bearer {API_KEY}"}
MAX_MESSAGES = 6  # three turns: a user message and an answer each


@pytest.fixture
def stack() -> Iterator[Stack]:
    yield from start_stack(simulator_config(session_max_messages=MAX_MESSAGES), min_interval_s=0.0)


def respond(stack: Stack, text: str, previous: str | None) -> httpx.Response:
    body: dict[str, Any] = {"model": "deepseek-chat", "input": text}
    if previous is not None:
        body["previous_response_id"] = previous
    return httpx.post(stack.base_url + "/responses", json=body, headers=HEADERS, timeout=30)


def test_a_response_chain_past_the_length_limit_goes_on_in_a_new_session(stack: Stack) -> None:
    previous = None
    for turn in range(1, 8):
        reply = respond(stack, f"turn {turn}", previous)
        assert reply.status_code == 200, (turn, reply.text)
        assert f"Echo: turn {turn}" in reply.text
        previous = reply.json()["id"]
    answered = [r for r in stack.upstream_requests("/chat/completion") if r["status"] == 200]
    sessions = [r["body"]["chat_session_id"] for r in answered]
    # Turns 1-3 in the first session; turn 4 found it full and was replayed in a second one with
    # the whole chain; turns 5-6 went on there (with their input only), turn 7 in a third.
    replays = [r for r in answered if r["body"]["parent_message_id"] is None]
    assert len(replays) == 3, [(r["body"]["parent_message_id"], r["prompt"][:40]) for r in answered]
    assert all("turn 1" in r["prompt"] for r in replays)  # the whole chain went up each time
    assert "Echo: turn 3" in replays[1]["prompt"] and "turn 4" in replays[1]["prompt"]
    assert len(set(sessions)) == 3
    went_on = [r for r in answered if r["body"]["parent_message_id"] is not None]
    assert went_on and all(r["prompt"].startswith("turn ") for r in went_on)


def test_a_conversation_id_at_the_length_limit_says_so(stack: Stack) -> None:
    url = stack.base_url + "/chat/completions"
    messages: list[dict[str, str]] = []
    conversation = None
    reply = None
    for turn in range(1, 5):
        messages.append({"role": "user", "content": f"turn {turn}"})
        body: dict[str, Any] = {"model": "deepseek-chat", "messages": messages}
        if conversation is not None:
            body["conversation_id"] = conversation
        reply = httpx.post(url, json=body, headers=HEADERS, timeout=30)
        if reply.status_code != 200:
            break
        conversation = reply.json()["id"]
        messages.append({"role": "assistant", "content": reply.json()["choices"][0]["message"]["content"]})
    assert reply is not None and turn == 4, (turn, reply.text if reply is not None else None)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert "length limit" in error["message"] and "new conversation" in error["message"], error
    assert "too long" not in error["message"], error


def test_an_agent_conversation_past_the_length_limit_goes_on_in_a_new_session(stack: Stack) -> None:
    # Session reuse: each request carries the whole history, and goes on in the session of the last.
    url = stack.base_url + "/chat/completions"
    messages: list[dict[str, str]] = []
    for turn in range(1, 6):
        messages.append({"role": "user", "content": f"step {turn}"})
        reply = httpx.post(
            url, json={"model": "deepseek-chat", "messages": messages}, headers=HEADERS, timeout=30
        )
        assert reply.status_code == 200, (turn, reply.text)
        messages.append({"role": "assistant", "content": reply.json()["choices"][0]["message"]["content"]})
    answered = [r for r in stack.upstream_requests("/chat/completion") if r["status"] == 200]
    fresh = [r for r in answered if r["body"]["parent_message_id"] is None]
    # Steps 1-3 in one session, step 4 replayed with the whole history in a new one, step 5 there.
    assert len(fresh) == 2, [r["prompt"] for r in fresh]
    assert fresh[0]["prompt"] == "step 1"
    assert fresh[1]["prompt"].startswith("step 1") and fresh[1]["prompt"].endswith("step 4")
    assert answered[-1]["body"]["parent_message_id"] is not None
    assert answered[-1]["body"]["chat_session_id"] == fresh[-1]["body"]["chat_session_id"]
