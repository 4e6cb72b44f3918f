"""No chat session is left behind upstream, whatever way a turn ends.

With ``chat.session_delete = "delete"`` the session of every attempt is deleted, also when the
attempt failed over, the client left, the request timed out or DeepSeek broke the stream. Without
it, a prepared session whose creation was under way when its request left is kept for the next
turn (or deleted), never forgotten upstream.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from deepseek_free_api.app import create_app
from deepseek_free_api.background import BackgroundServer
from deepseek_free_api.config import load_settings
from deepseek_free_api.simulator import create_app as create_simulator
from tests.api.conftest import API_KEY, TOKENS, Stack, simulator_config, start_stack

SLOW = {
    "pattern": "SLOW",
    "answer": "{echo}",
    "answer_chars": 800,
    "pacing": {"chunks_per_second": 20, "chunk_chars": 8},
}
HEADERS = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="module")
def deleting() -> Iterator[Stack]:
    config = simulator_config(scripts=[SLOW], busy_after_disconnect_seconds=60)
    yield from start_stack(
        config, session_delete="delete", min_interval_s=0.0, **{"server.request_timeout_s": 2.5}
    )


def sessions(stack: Stack) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = stack.sim("GET", "/_sim/state")["sessions"]
    return found


def assert_no_session_left(stack: Stack) -> None:
    deadline = time.monotonic() + 8
    while sessions(stack) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(s["id"], len(s["messages"])) for s in sessions(stack)] == []
    assert stack.sim("GET", "/_sim/state")["in_flight"] == {}


def chat(stack: Stack, content: str, *, timeout: float = 30) -> httpx.Response:
    body = {"model": "deepseek-chat", "messages": [{"role": "user", "content": content}]}
    return httpx.post(stack.base_url + "/chat/completions", json=body, headers=HEADERS, timeout=timeout)


def test_after_a_failed_over_attempt(deleting: Stack) -> None:
    fault = {"fault": "http_500", "path": "/chat/completion", "prompt_contains": "FAILOVER", "times": 1}
    deleting.sim("POST", "/_sim/faults", json=fault)
    before = len(deleting.upstream_requests("/chat/completion"))
    response = chat(deleting, "FAILOVER please")
    assert response.status_code == 200, response.text
    assert len(deleting.upstream_requests("/chat/completion")) == before + 2  # one failed, one answered
    assert_no_session_left(deleting)


def test_after_the_client_left_mid_stream(deleting: Stack) -> None:
    with deleting.stream_chat("SLOW leave") as response:
        next(line for line in response.iter_lines() if '"content":"E' in line)
    assert_no_session_left(deleting)


def test_after_a_request_timeout(deleting: Stack) -> None:
    response = chat(deleting, "SLOW timeout")
    assert response.status_code == 504, response.text
    assert_no_session_left(deleting)


def test_after_an_upstream_error(deleting: Stack) -> None:
    fault = {"fault": "drop_mid_stream", "prompt_contains": "DROPPED", "times": 1, "after": 2}
    deleting.sim("POST", "/_sim/faults", json=fault)
    with deleting.stream_chat("DROPPED here") as response:
        text = response.read().decode()
    assert '"content":"E' in text and '"error"' in text, text
    assert_no_session_left(deleting)


def test_a_prepared_session_whose_request_left_is_kept_or_deleted() -> None:
    config = simulator_config(accounts=[{"id": "alpha", "token": TOKENS[0]}])
    with BackgroundServer(create_simulator(config)) as simulator:
        options = {
            "base_url": simulator.url,
            "tokens": [TOKENS[0]],
            "api_keys": [API_KEY],
            "min_interval_s": 0.0,
            "keepalive_interval_s": 0.2,
            "store.url": "memory://",
        }
        with BackgroundServer(create_app(load_settings(overrides=options, env={}))) as server:
            stack = Stack(simulator, server)
            deadline = time.monotonic() + 10
            while len(sessions(stack)) < 1:  # the account's first session is prepared at start
                assert time.monotonic() < deadline
                time.sleep(0.02)
            # The next session (prepared as the first answer goes out) takes 2 s to be created.
            stack.sim(
                "POST", "/_sim/faults", json={"fault": "delay", "path": "/chat_session/create", "seconds": 2}
            )
            assert chat(stack, "one").status_code == 200
            with stack.stream_chat("two") as response:  # waits for that session...
                next(response.iter_bytes())  # ...and leaves at the first keep-alive
            time.sleep(2.5)  # the creation finishes upstream
            assert chat(stack, "three").status_code == 200
        # The server stopped; what it kept unused it deleted. Every session left has been used.
        left = httpx.get(simulator.url + "/_sim/state", timeout=10).json()["sessions"]
        assert [s["id"] for s in left if not s["messages"]] == []
        assert len(left) == 2  # "one" and "three"
