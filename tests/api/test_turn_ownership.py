"""The turn owns DeepSeek's generation from before ``chat/completion`` (or ``chat/continue``) is sent.

A client that leaves, or ``server.request_timeout_s`` running out, while the server still waits for
the response headers of the completion or of a continue must cancel the transfer, stop the
generation DeepSeek may already run, and only then hand the account on: the simulator reads
completion, stop_stream, completion, and records no second generation on the account.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import API_KEY, Stack, simulator_config, start_stack

# DeepSeek answers the headers late (pacing.latency_ms) and then generates for a few seconds.
HEADLATE = {
    "pattern": "HEADLATE",
    "answer": "{echo}",
    "answer_chars": 400,
    "pacing": {"latency_ms": 8000, "chunks_per_second": 20, "chunk_chars": 8},
}
# The first delivery breaks INCOMPLETE after 40 characters; the continue's headers come late too.
CONTLATE = {
    "pattern": "CONTLATE",
    "answer": "{echo}",
    "answer_chars": 400,
    "incomplete_after": 40,
    "pacing": {"latency_ms": 2500, "chunks_per_second": 20, "chunk_chars": 8},
}
HEADERS = {"Authorization": f"Bearer {API_KEY}"}
MARK: dict[str, int] = {}


def _config() -> Any:
    # Like real DeepSeek, the simulator keeps generating after a dropped connection.
    return simulator_config(scripts=[HEADLATE, CONTLATE], busy_after_disconnect_seconds=60)


@pytest.fixture(scope="module")
def leaving() -> Iterator[Stack]:
    yield from start_stack(_config(), tokens=["tok-alpha"], min_interval_s=0.0, keepalive_interval_s=0.3)


@pytest.fixture(scope="module")
def hasty() -> Iterator[Stack]:
    overrides = {"server.request_timeout_s": 4.0}
    yield from start_stack(_config(), tokens=["tok-alpha"], min_interval_s=0.0, **overrides)


def mark(stack: Stack) -> None:
    """Where this test's upstream calls begin (no reset: it would void the pre-solved PoW)."""
    MARK["log"] = len(stack.upstream_requests())
    MARK["violations"] = len(stack.sim("GET", "/_sim/state")["violations"])


def body(content: str, *, stream: bool) -> dict[str, Any]:
    return {"model": "deepseek-chat", "messages": [{"role": "user", "content": content}], "stream": stream}


def post(stack: Stack, content: str, results: list[httpx.Response]) -> threading.Thread:
    """A non-streaming request in a thread."""

    def run() -> None:
        url = stack.base_url + "/chat/completions"
        results.append(httpx.post(url, json=body(content, stream=False), headers=HEADERS, timeout=30))

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def logged(stack: Stack, suffix: str) -> int:
    return len([r for r in stack.upstream_requests()[MARK["log"] :] if r["path"].endswith(suffix)])


def wait_for(predicate: Callable[[], bool], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def assert_stopped_then_handed_on(stack: Stack, b: threading.Thread, results: list[httpx.Response]) -> None:
    """B succeeded, and upstream saw A's generation stopped before B's began; no violation."""
    b.join(30)
    assert results and results[0].status_code == 200, results and results[0].text
    assert results[0].json()["choices"][0]["message"]["content"].startswith("Echo: B")
    mine = stack.upstream_requests()[MARK["log"] :]
    log = [r for r in mine if r["path"].endswith(("/chat/completion", "/chat/continue", "/chat/stop_stream"))]
    kinds = [r["path"].rsplit("/", 1)[1] for r in log]
    generated = [r for r in log[:-1] if not r["path"].endswith("/stop_stream")]
    assert kinds == [*[r["path"].rsplit("/", 1)[1] for r in generated], "stop_stream", "completion"], kinds
    stop = log[-2]["body"]
    assert stop["chat_session_id"] == generated[-1]["body"]["chat_session_id"]
    if generated[-1]["path"].endswith("/continue"):
        assert stop["message_id"] == generated[-1]["body"]["message_id"]
    else:
        assert stop["message_id"] == 2  # a new session's first answer (PROTOCOL.md §4.3)
    state = stack.sim("GET", "/_sim/state")
    assert len(state["violations"]) == MARK["violations"], state["violations"]
    assert state["in_flight"] == {}


@pytest.mark.parametrize(
    ("prompt", "awaited"), [("HEADLATE a", "/chat/completion"), ("CONTLATE a", "/chat/continue")]
)
def test_client_leaving_while_headers_are_awaited(leaving: Stack, prompt: str, awaited: str) -> None:
    mark(leaving)
    results: list[httpx.Response] = []
    url = leaving.base_url + "/chat/completions"
    with httpx.stream("POST", url, json=body(prompt, stream=True), headers=HEADERS, timeout=30):
        wait_for(lambda: logged(leaving, "/chat/completion") == 1)
        b = post(leaving, "B", results)  # B waits for the only account
        wait_for(lambda: logged(leaving, awaited) == 1)
        time.sleep(0.3)  # DeepSeek has not sent the headers of A's completion (or continue) yet
    assert_stopped_then_handed_on(leaving, b, results)


@pytest.mark.parametrize("prompt", ["HEADLATE t", "CONTLATE t"])
def test_request_timeout_while_headers_are_awaited(hasty: Stack, prompt: str) -> None:
    mark(hasty)
    started = time.monotonic()
    response = httpx.post(
        hasty.base_url + "/chat/completions", json=body(prompt, stream=False), headers=HEADERS, timeout=30
    )
    assert response.status_code == 504, response.text
    assert time.monotonic() - started < 7  # the headers alone would take 8 s
    results: list[httpx.Response] = []
    assert_stopped_then_handed_on(hasty, post(hasty, "B", results), results)
