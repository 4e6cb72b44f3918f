"""Every way a turn can end stops DeepSeek's generation before the account is handed on.

One account and a queue: while request A streams a slow answer, request B waits for the same
account. However A ends (the client leaves at a yield or while waiting for the first token, a
non-streaming client hangs up, a stop sequence or max_tokens cuts it, the request timeout), the
simulator must see A's ``chat/stop_stream`` before B's ``chat/completion``, and B must succeed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
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
LATE = {"pattern": "LATE", "answer": "{echo}", "pacing": {"first_token_ms": 4000}}


@pytest.fixture(scope="module")
def single() -> Iterator[Stack]:
    # Like real DeepSeek, the simulator keeps generating after a dropped connection.
    config = simulator_config(scripts=[SLOW, LATE], busy_after_disconnect_seconds=60)
    yield from start_stack(config, tokens=["tok-alpha"], min_interval_s=0.0, keepalive_interval_s=0.3)


MARK: dict[str, int] = {}


@pytest.fixture(autouse=True)
def mark(single: Stack) -> None:
    """Where this test's upstream calls begin (no reset: it would void the pre-solved PoW)."""
    MARK["log"] = len(single.upstream_requests())
    MARK["busy"] = single.sim("GET", "/_sim/state")["counters"].get("busy", 0)


def body(content: str, *, stream: bool, **extra: Any) -> dict[str, Any]:
    return {
        "model": "deepseek-chat",
        "messages": [{"role": "user", "content": content}],
        "stream": stream,
        **extra,
    }


HEADERS = {"Authorization": f"Bearer {API_KEY}"}


def stream_a(stack: Stack, content: str, **extra: Any) -> AbstractContextManager[httpx.Response]:
    """Request A, streaming."""
    url = stack.base_url + "/chat/completions"
    return httpx.stream("POST", url, json=body(content, stream=True, **extra), headers=HEADERS, timeout=30)


def queued_b(stack: Stack, results: list[httpx.Response]) -> threading.Thread:
    """Request B, sent while A holds the only account."""

    def run() -> None:
        results.append(
            httpx.post(
                stack.base_url + "/chat/completions",
                json=body("B", stream=False),
                headers=HEADERS,
                timeout=30,
            )
        )

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def wait_for(predicate: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def assert_stopped_before_handover(stack: Stack, b: threading.Thread, results: list[httpx.Response]) -> None:
    b.join(30)
    assert results and results[0].status_code == 200, results and results[0].text
    assert results[0].json()["choices"][0]["message"]["content"].startswith("Echo: B")
    mine = stack.upstream_requests()[MARK["log"] :]
    log = [r for r in mine if r["path"].endswith(("/chat/completion", "/chat/stop_stream"))]
    kinds = [r["path"].rsplit("/", 1)[1] for r in log]
    assert kinds == ["completion", "stop_stream", "completion"], kinds
    assert log[1]["body"]["chat_session_id"] == log[0]["body"]["chat_session_id"]
    state = stack.sim("GET", "/_sim/state")
    assert state["in_flight"] == {} and state["violations"] == []
    assert state["counters"].get("busy", 0) == MARK["busy"]


def test_stream_client_leaving_at_a_yield(single: Stack) -> None:
    results: list[httpx.Response] = []
    with stream_a(single, "SLOW a") as response:
        lines = response.iter_lines()
        next(line for line in lines if '"content":"E' in line)
        b = queued_b(single, results)
        time.sleep(0.3)  # B is queued behind A
    assert_stopped_before_handover(single, b, results)


def test_stream_client_leaving_while_waiting_for_the_first_token(single: Stack) -> None:
    results: list[httpx.Response] = []
    with stream_a(single, "LATE a") as response:
        b = queued_b(single, results)
        received = b""
        for piece in response.iter_bytes():
            received += piece
            if b": keep-alive" in received:
                break  # the server waits for DeepSeek's first token; the client gives up now
        assert b'"content"' not in received
    assert_stopped_before_handover(single, b, results)


def test_non_streaming_client_hanging_up(single: Stack) -> None:
    results: list[httpx.Response] = []
    b: threading.Thread | None = None

    def start_b() -> None:
        nonlocal b
        # A's completion, not one of an earlier test on this module's stack: B must come second.
        wait_for(
            lambda: any(
                r["path"].endswith("/chat/completion") for r in single.upstream_requests()[MARK["log"] :]
            )
        )
        b = queued_b(single, results)

    starter = threading.Thread(target=start_b)
    starter.start()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            single.base_url + "/chat/completions",
            json=body("SLOW a", stream=False),
            headers=HEADERS,
            timeout=httpx.Timeout(30, read=1.5),
        )
    starter.join(10)
    assert b is not None
    assert_stopped_before_handover(single, b, results)


@pytest.mark.parametrize("limit", [{"stop": ["Echo: SLOW c | model"]}, {"max_tokens": 5}])
def test_a_cut_by_stop_sequence_or_max_tokens_stops_the_generation_first(
    single: Stack, limit: dict[str, Any]
) -> None:
    results: list[httpx.Response] = []
    b = None
    with stream_a(single, "SLOW c", **limit) as response:
        b = queued_b(single, results)
        text = response.read().decode()
    assert '"finish_reason":"' in text and text.rstrip().endswith("data: [DONE]")
    assert_stopped_before_handover(single, b, results)


@pytest.fixture(scope="module")
def hasty() -> Iterator[Stack]:
    config = simulator_config(scripts=[SLOW], busy_after_disconnect_seconds=60)
    yield from start_stack(
        config, tokens=["tok-alpha"], min_interval_s=0.0, **{"server.request_timeout_s": 1.0}
    )


@pytest.mark.parametrize("stream", [False, True])
def test_request_timeout_is_504_or_an_error_event_and_the_generation_is_stopped(
    hasty: Stack, stream: bool
) -> None:
    before = len(hasty.upstream_requests("/chat/stop_stream"))
    started = time.monotonic()
    response = httpx.post(
        hasty.base_url + "/chat/completions", json=body("SLOW t", stream=stream), headers=HEADERS, timeout=30
    )
    elapsed = time.monotonic() - started
    assert elapsed < 4, elapsed  # the answer alone takes 5 s
    if stream:
        assert response.status_code == 200
        assert "request_timeout_s" in response.text and '"finish_reason":"stop"' not in response.text
    else:
        assert response.status_code == 504
        assert "request_timeout_s" in response.json()["error"]["message"]
    stops = hasty.upstream_requests("/chat/stop_stream")
    assert len(stops) == before + 1
    assert hasty.sim("GET", "/_sim/state")["in_flight"] == {}


@pytest.fixture(scope="module")
def queue() -> Iterator[Stack]:
    config = simulator_config(scripts=[SLOW])
    yield from start_stack(
        config, tokens=["tok-alpha"], min_interval_s=0.0, wait_timeout_s=1.0, keepalive_interval_s=0.2
    )


def test_a_stream_that_waits_too_long_for_an_account_is_a_real_429(queue: Stack) -> None:
    results: list[int] = []

    def hold() -> None:
        with httpx.stream(
            "POST",
            queue.base_url + "/chat/completions",
            json=body("SLOW q", stream=True),
            headers=HEADERS,
            timeout=30,
        ) as response:
            results.append(response.status_code)
            response.read()

    holder = threading.Thread(target=hold)
    holder.start()
    wait_for(lambda: bool(queue.upstream_requests("/chat/completion")))
    with httpx.stream(
        "POST",
        queue.base_url + "/chat/completions",
        json=body("second", stream=True),
        headers=HEADERS,
        timeout=30,
    ) as response:
        status, retry_after = response.status_code, response.headers.get("retry-after")
        payload = response.read()
    holder.join(30)
    assert status == 429, payload
    assert retry_after is not None and int(retry_after) >= 1
    assert b'"rate_limit_error"' in payload
