"""A ``stop_stream`` that fails does not hand the account on while DeepSeek may still generate.

One account and a queue: request A streams a slow answer and its client leaves; DeepSeek (the
simulator) goes on generating until stopped or until its cap; request B waits for the account.
When A's stop fails, the server retries it with backoff and keeps the account parked until
DeepSeek confirms (or until ``upstream.generation_max_s`` has passed): B then succeeds and the
simulator records no second generation on the account.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import API_KEY, Stack, simulator_config, start_stack

SLOW = {
    "pattern": "SLOW",
    "answer": "{echo}",
    "answer_chars": 800,
    "pacing": {"chunks_per_second": 20, "chunk_chars": 8},
}
GENERATION_MAX_S = 4.0
HEADERS = {"Authorization": f"Bearer {API_KEY}"}
MARK: dict[str, int] = {}


@pytest.fixture(scope="module")
def single() -> Iterator[Stack]:
    # A generation left without a client runs on for 3 s at most (the answer alone takes 5 s).
    config = simulator_config(scripts=[SLOW], busy_after_disconnect_seconds=3)
    overrides = {"upstream.generation_max_s": GENERATION_MAX_S}
    yield from start_stack(config, tokens=["tok-alpha"], min_interval_s=0.0, **overrides)


@pytest.fixture(autouse=True)
def clean(single: Stack) -> Iterator[None]:
    MARK["log"] = len(single.upstream_requests())
    MARK["violations"] = len(single.sim("GET", "/_sim/state")["violations"])
    yield
    single.sim("DELETE", "/_sim/faults")


def body(content: str, *, stream: bool) -> dict[str, Any]:
    return {"model": "deepseek-chat", "messages": [{"role": "user", "content": content}], "stream": stream}


def leave_while_b_waits(stack: Stack) -> tuple[threading.Thread, list[httpx.Response]]:
    """A streams and leaves after its first words; B is queued behind it by then."""
    results: list[httpx.Response] = []

    def run_b() -> None:
        url = stack.base_url + "/chat/completions"
        results.append(httpx.post(url, json=body("B", stream=False), headers=HEADERS, timeout=60))

    url = stack.base_url + "/chat/completions"
    with httpx.stream("POST", url, json=body("SLOW a", stream=True), headers=HEADERS, timeout=30) as response:
        next(line for line in response.iter_lines() if '"content":"E' in line)
        b = threading.Thread(target=run_b)
        b.start()
        time.sleep(0.3)  # B waits for the only account
    return b, results


def mine(stack: Stack) -> list[dict[str, Any]]:
    calls = stack.upstream_requests()[MARK["log"] :]
    return [r for r in calls if r["path"].endswith(("/chat/completion", "/chat/stop_stream"))]


def assert_no_second_generation(stack: Stack, b: threading.Thread, results: list[httpx.Response]) -> None:
    b.join(60)
    assert results and results[0].status_code == 200, results and results[0].text
    state = stack.sim("GET", "/_sim/state")
    assert len(state["violations"]) == MARK["violations"], state["violations"]
    assert state["counters"].get("busy_refusals", 0) == 0


def test_a_failed_stop_is_retried_and_the_account_waits_for_it(single: Stack) -> None:
    fault = {"fault": "http_500", "path": "/chat/stop_stream", "times": 2}
    single.sim("POST", "/_sim/faults", json=fault)
    b, results = leave_while_b_waits(single)
    assert_no_second_generation(single, b, results)
    log = mine(single)
    assert [(r["path"].rsplit("/", 1)[1], r["status"]) for r in log] == [
        ("completion", 200),
        ("stop_stream", 500),
        ("stop_stream", 500),
        ("stop_stream", 200),
        ("completion", 200),
    ]


def test_a_stop_never_confirmed_parks_the_account_for_the_longest_generation(single: Stack) -> None:
    single.sim("POST", "/_sim/faults", json={"fault": "http_500", "path": "/chat/stop_stream", "times": 0})
    b, results = leave_while_b_waits(single)
    assert_no_second_generation(single, b, results)
    log = mine(single)
    kinds = [r["path"].rsplit("/", 1)[1] for r in log]
    assert kinds[0] == "completion" and kinds[-1] == "completion", kinds
    assert set(kinds[1:-1]) == {"stop_stream"} and len(kinds) >= 4, kinds  # retried with backoff
    # B's generation began only once A's could no longer be running.
    assert log[-1]["time"] - log[0]["time"] >= GENERATION_MAX_S - 0.1
