"""No chat session is left behind upstream, whatever way a turn ends.

A prepared session whose creation was under way when its request left is kept for the next turn
(or deleted), never forgotten upstream.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from deepseek_free_api.app import create_app
from deepseek_free_api.background import BackgroundServer
from deepseek_free_api.config import load_settings
from deepseek_free_api.simulator import create_app as create_simulator
from tests.api.conftest import API_KEY, TOKENS, Stack, simulator_config

HEADERS = {"Authorization": f"Bearer {API_KEY}"}


def sessions(stack: Stack) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = stack.sim("GET", "/_sim/state")["sessions"]
    return found


def chat(stack: Stack, content: str, *, timeout: float = 30) -> httpx.Response:
    body = {"model": "deepseek-chat", "messages": [{"role": "user", "content": content}]}
    return httpx.post(stack.base_url + "/chat/completions", json=body, headers=HEADERS, timeout=timeout)


def test_a_prepared_session_whose_request_left_is_kept_or_deleted() -> None:
    config = simulator_config(accounts=[{"id": "alpha", "token": TOKENS[0]}])
    with BackgroundServer(create_simulator(config)) as simulator:
        options = {
            "base_url": simulator.url,
            "tokens": [TOKENS[0]],
            "api_keys": [API_KEY],
            "min_interval_s": 0.0,
            "keepalive_interval_s": 0.2,
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
