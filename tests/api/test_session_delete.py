"""chat.session_delete = "delete" leaves no session behind upstream."""

from __future__ import annotations

import time
from collections.abc import Iterator

import openai
import pytest

from tests.api.conftest import API_KEY, Stack, sdk_client, simulator_config, start_stack


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from start_stack(simulator_config(), session_delete="delete", min_interval_s=0.0)


def test_sessions_are_deleted_after_the_answer(stack: Stack) -> None:
    api = sdk_client(openai.OpenAI, stack.base_url, API_KEY)
    reply = api.chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": "bye"}])
    assert (reply.choices[0].message.content or "").startswith("Echo: bye")
    # The answer does not wait for the delete; it follows at once, while the lease is still held.
    deadline = time.monotonic() + 5
    while not stack.upstream_requests("/chat_session/delete") and time.monotonic() < deadline:
        time.sleep(0.02)
    deletes = stack.upstream_requests("/chat_session/delete")
    assert [d["body"]["chat_session_id"] for d in deletes] == [reply.id.partition("@")[0]]
    assert stack.sim("GET", "/_sim/state")["sessions"] in ([], {})


@pytest.fixture(scope="module")
def slow_network() -> Iterator[Stack]:
    config = simulator_config(network_latency_ms=1000)  # every upstream call, the delete too, takes 1 s
    yield from start_stack(config, session_delete="delete", min_interval_s=0.0)


def test_done_does_not_wait_for_the_delete(slow_network: Stack) -> None:
    finished = done = 0.0
    with slow_network.stream_chat("quick") as response:
        for line in response.iter_lines():
            if '"finish_reason":"stop"' in line:
                finished = time.monotonic()
            if line == "data: [DONE]":
                done = time.monotonic()
    assert finished and done
    assert done - finished < 0.5, done - finished  # the base code held [DONE] back for the delete (1 s)
    deadline = time.monotonic() + 5
    while not slow_network.upstream_requests("/chat_session/delete") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert slow_network.upstream_requests("/chat_session/delete")  # and the delete still happens
