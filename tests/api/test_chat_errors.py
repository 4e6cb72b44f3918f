"""Every error class as the OpenAI SDK sees it, and what a disconnect does upstream."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.api.conftest import API_KEY, Stack, sdk_client, simulator_config, start_stack

SLOW = {
    "pattern": "SLOW",
    "answer": "{echo}",
    "answer_chars": 600,
    "pacing": {"chunks_per_second": 20, "chunk_chars": 8},
}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    config = simulator_config(scripts=[SLOW, {"pattern": "LONGISH", "answer": "{echo}", "answer_chars": 300}])
    yield from start_stack(config, wait_timeout_s=5, min_interval_s=0.0, caller_tokens=True)


@pytest.fixture(scope="module")
def tight() -> Iterator[Stack]:
    """No queue at all: a request that finds every account busy is refused at once."""
    # Like real DeepSeek, the simulator keeps generating after a dropped connection;
    # only stop_stream frees the account.
    config = simulator_config(scripts=[SLOW], busy_after_disconnect_seconds=60)
    yield from start_stack(config, max_waiters=0, min_interval_s=0.0, caller_tokens=True)


@pytest.fixture(autouse=True)
def reset(stack: Stack) -> Iterator[None]:
    stack.sim("POST", "/_sim/reset")
    yield
    stack.sim("DELETE", "/_sim/faults")


def client(stack: Stack, key: str = API_KEY) -> openai.OpenAI:
    return sdk_client(openai.OpenAI, stack.base_url, key)


def chat(stack: Stack, key: str = API_KEY, **kwargs: Any) -> Any:
    kwargs.setdefault("model", "deepseek-chat")
    kwargs.setdefault("messages", [{"role": "user", "content": "hi"}])
    return client(stack, key).chat.completions.create(**kwargs)


def test_bad_request_names_the_param(stack: Stack) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        chat(stack, messages=[])
    assert caught.value.status_code == 400
    assert caught.value.body["param"] == "messages"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as caught:
        chat(stack, messages=[{"role": "robot", "content": "x"}])
    assert caught.value.body["param"] == "messages.0.role"  # type: ignore[index]


def test_invalid_json_body_is_400(stack: Stack) -> None:
    response = httpx.post(
        stack.base_url + "/chat/completions",
        content=b"{not json",
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"


def test_unknown_model_is_404(stack: Stack) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        chat(stack, model="gpt-4o")
    assert caught.value.body["code"] == "model_not_found"  # type: ignore[index]


def test_missing_credentials_are_401_and_server_accounts_stay_unused(stack: Stack) -> None:
    response = stack.post_chat("hi", key=None)
    assert response.status_code == 401
    assert stack.upstream_requests("/chat/completion") == []
    # nothing about the body is revealed to an unauthenticated caller
    anonymous = httpx.post(stack.base_url + "/chat/completions", json={"model": "no-such-model"})
    assert anonymous.status_code == 401


def test_invalid_deepseek_token_is_401(stack: Stack) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        chat(stack, key="not-a-real-token")
    assert "token" in caught.value.message.lower()
    assert "not-a-real-token" not in caught.value.message


def test_callers_own_token_works_without_a_service_key(stack: Stack) -> None:
    reply = chat(stack, key="tok-beta")
    assert (reply.choices[0].message.content or "").startswith("Echo: hi")


def test_oversized_body_is_413(stack: Stack) -> None:
    big = "x" * (9 * 1024 * 1024)
    assert stack.post_chat(big).status_code == 413


def _hold_stream(stack: Stack, started: threading.Event, done: threading.Event) -> None:
    with stack.stream_chat("SLOW") as response:
        for line in response.iter_lines():
            if '"content"' in line:
                started.set()
            if done.is_set():
                break


def test_all_accounts_busy_is_429_with_retry_after(tight: Stack) -> None:
    stack = tight
    done = threading.Event()
    events = [threading.Event(), threading.Event()]
    threads = [threading.Thread(target=_hold_stream, args=(stack, e, done)) for e in events]
    for thread in threads:
        thread.start()
    try:
        assert all(e.wait(15) for e in events)
        response = stack.post_chat("third")
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) >= 1
        assert response.json()["error"]["type"] == "rate_limit_error"
        assert response.json()["error"]["code"] == "rate_limit_exceeded"
    finally:
        done.set()
        for thread in threads:
            thread.join(15)
    assert stack.sim("GET", "/_sim/state")["violations"] == []


def test_upstream_5xx_is_502_with_a_clear_message(stack: Stack) -> None:
    stack.sim(
        "POST", "/_sim/faults", json={"fault": "http_500", "times": 0, "path": "/api/v0/chat/completion"}
    )
    with pytest.raises(openai.APIStatusError) as caught:
        chat(stack)
    assert caught.value.status_code == 502
    assert "DeepSeek" in caught.value.message


def test_waf_block_is_503(stack: Stack) -> None:
    stack.sim("POST", "/_sim/faults", json={"fault": "edge_waf", "times": 0})
    with pytest.raises(openai.InternalServerError) as caught:
        chat(stack)
    assert caught.value.status_code == 503
    assert "WAF" in caught.value.message or "block" in caught.value.message.lower()


def test_transient_5xx_fails_over_invisibly(stack: Stack) -> None:
    stack.sim(
        "POST", "/_sim/faults", json={"fault": "http_500", "times": 1, "path": "/api/v0/chat/completion"}
    )
    reply = chat(stack)
    assert (reply.choices[0].message.content or "").startswith("Echo: hi")


def test_muted_accounts_give_503_with_retry_after(stack: Stack) -> None:
    # Every account parked is not a queue (429) but a server that cannot serve for a while (503).
    for account in ("alpha", "beta"):
        stack.sim("POST", f"/_sim/accounts/{account}", json={"mute_seconds": 600})
    # The first request may spend an attempt on the proof of work /_sim/reset made stale; once the
    # server has met both mutes, the answer comes from what it knows, at once.
    assert stack.post_chat("hi").status_code == 503
    started = time.monotonic()
    response = stack.post_chat("hi")
    assert time.monotonic() - started < 2
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 60
    assert "mute" in response.json()["error"]["message"].lower()
    assert response.json()["error"]["code"] == "no_usable_account"


def test_mid_stream_failure_raises_in_the_sdk(stack: Stack) -> None:
    stack.sim("POST", "/_sim/faults", json={"fault": "drop_mid_stream", "times": 0, "after": 3})
    with pytest.raises(openai.APIError):
        for _ in chat(stack, stream=True, messages=[{"role": "user", "content": "LONGISH"}]):
            pass


def test_disconnect_stops_the_generation_and_frees_the_account(tight: Stack) -> None:
    stack = tight
    stack.sim("POST", "/_sim/reset")
    with stack.stream_chat("SLOW", key="tok-alpha") as response:
        for line in response.iter_lines():
            if '"content":"E' in line:
                break
    deadline = time.monotonic() + 10
    while not stack.upstream_requests("/chat/stop_stream") and time.monotonic() < deadline:
        time.sleep(0.05)
    stops = stack.upstream_requests("/chat/stop_stream")
    assert len(stops) == 1
    sessions = [c["body"]["chat_session_id"] for c in stack.upstream_requests("/chat/completion")]
    assert stops[0]["body"]["chat_session_id"] == sessions[-1]
    state = stack.sim("GET", "/_sim/state")
    assert state["in_flight"] == {}
    # the account is usable again at once
    reply = chat(stack, key="tok-alpha")
    assert (reply.choices[0].message.content or "").startswith("Echo: hi")


@pytest.fixture(scope="module")
def impatient() -> Iterator[Stack]:
    """Gives up on a stream after half a second of silence."""
    yield from start_stack(simulator_config(), stream_idle_timeout_s=0.5, min_interval_s=0.0)


def test_stalled_stream_ends_with_an_error_not_a_hang(impatient: Stack) -> None:
    # Without the idle timeout the stream would resume after the stall and end normally.
    impatient.sim("POST", "/_sim/faults", json={"fault": "stall", "times": 1, "seconds": 20})
    with pytest.raises(openai.APIError) as caught:
        for _ in chat(impatient, stream=True):
            pass
    assert "sent nothing" in str(caught.value.message)
