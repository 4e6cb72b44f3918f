"""``GET /metrics`` as Prometheus scrapes it: parsed with prometheus-client, moving as requests,
errors and account states change (the real server on a socket, the simulator as DeepSeek)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.api.conftest import API_KEY, Stack, simulator_config, start_stack
from tests.ops.support import key_labels, scrape, value

SLOW = {
    "pattern": "SLOW",
    "answer": "{echo}",
    "answer_chars": 240,
    "pacing": {"chunks_per_second": 20, "chunk_chars": 8},
}
REQUESTS = "deepseek_free_api_requests_total"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from start_stack(simulator_config(scripts=[SLOW]), min_interval_s=0.0)


def test_a_chat_moves_the_request_token_latency_and_upstream_metrics(stack: Stack) -> None:
    before = scrape(stack.server.url)
    reply = stack.post_chat("count me")
    assert reply.status_code == 200
    usage = reply.json()["usage"]
    after = scrape(stack.server.url)

    (key,) = key_labels(after)  # the one service key, named by a digest, never by itself
    ok = {"route": "/v1/chat/completions", "dialect": "openai", "key": key}
    ok |= {"model": "deepseek-v4-flash-nothinking", "status": "200"}
    assert value(after, REQUESTS, **ok) == value(before, REQUESTS, **ok) + 1
    tokens = {"key": key, "model": "deepseek-v4-flash-nothinking"}
    for name, counted in (("input", usage["prompt_tokens"]), ("output", usage["completion_tokens"])):
        metric = f"deepseek_free_api_{name}_tokens_total"
        assert value(after, metric, **tokens) == value(before, metric, **tokens) + counted > 0
    calls = "deepseek_free_api_upstream_calls_total"
    assert (
        value(after, calls, endpoint="/chat/completion")
        == value(before, calls, endpoint="/chat/completion") + 1
    )
    for histogram, labels_ in (
        ("deepseek_free_api_request_duration_seconds_count", {"route": "/v1/chat/completions"}),
        ("deepseek_free_api_time_to_first_token_seconds_count", {"dialect": "openai"}),
        ("deepseek_free_api_queue_wait_seconds_count", {}),
        ("deepseek_free_api_pow_seconds_count", {}),
    ):
        assert value(after, histogram, **labels_) == value(before, histogram, **labels_) + 1, histogram


def test_an_unknown_model_shows_with_its_status(stack: Stack) -> None:
    body = {"model": "deepseek-v9", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    before = scrape(stack.server.url)
    response = httpx.post(stack.base_url + "/chat/completions", json=body, headers=headers, timeout=10)
    assert response.status_code == 404
    after = scrape(stack.server.url)
    (key,) = key_labels(after)
    labels = {"route": "/v1/chat/completions", "status": "404", "key": key, "model": "-"}
    assert value(after, REQUESTS, **labels) == value(before, REQUESTS, **labels) + 1


def test_a_stream_shows_its_account_busy_while_it_runs(stack: Stack) -> None:
    first = threading.Event()
    done = threading.Event()

    def read() -> None:
        with stack.stream_chat("SLOW stream") as response:
            for line in response.iter_lines():
                if '"content"' in line:
                    first.set()
        done.set()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        assert first.wait(20)
        during = scrape(stack.server.url)
        assert not done.is_set(), "the stream ended before the scrape: make it slower"
        assert value(during, "deepseek_free_api_leases_in_use") == 1
        assert value(during, "deepseek_free_api_accounts", state="busy", source="server") == 1
        assert value(during, "deepseek_free_api_accounts", state="free", source="server") == 1
    finally:
        reader.join(30)
    after = scrape(stack.server.url)
    assert value(after, "deepseek_free_api_leases_in_use") == 0
    assert value(after, "deepseek_free_api_accounts", state="free", source="server") == 2
    assert value(after, "deepseek_free_api_queue_length") == 0


def test_labels_stay_few_whatever_callers_send(stack: Stack) -> None:
    """Random model names, paths and bearers must not each make a new series (memory is bounded)."""
    before = {tuple(sorted(s.labels.items())) for s in scrape(stack.server.url) if s.name == REQUESTS}
    noises = [uuid.uuid4().hex for _ in range(20)]
    with httpx.Client(base_url=stack.server.url, timeout=10) as client:
        for noise in noises:
            body = {"model": f"deepseek-chat-{noise}", "messages": [{"role": "user", "content": "x"}]}
            client.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {API_KEY}"})
            client.get(f"/{noise}/{noise}")
            client.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer sk-{noise}"})
    samples = scrape(stack.server.url)
    after = {tuple(sorted(s.labels.items())) for s in samples if s.name == REQUESTS}
    assert len(after - before) <= 4, sorted(after - before)  # 404 model, unmatched path, 401, /metrics
    text = repr(samples)
    assert API_KEY not in text and not any(noise in text for noise in noises)


def test_an_account_the_simulator_revokes_shows_in_the_state_gauge_after_failover() -> None:
    for stack in start_stack(simulator_config(), min_interval_s=0.0):
        before = scrape(stack.server.url)
        assert value(before, "deepseek_free_api_accounts", state="free", source="server") == 2
        assert value(before, "deepseek_free_api_accounts", state="invalid") == 0
        stack.sim("POST", "/_sim/accounts/beta", json={"revoked": True})
        for index in range(3):  # the pool takes the least recently used account: beta within two
            assert stack.post_chat(f"after revoke {index}").status_code == 200  # failed over, not seen
        after = scrape(stack.server.url)
        assert value(after, "deepseek_free_api_accounts", state="invalid", source="server") == 1
        assert value(after, "deepseek_free_api_accounts", state="free", source="server") == 1
        assert value(after, "deepseek_free_api_attempt_errors_total", error="InvalidTokenError") >= 1
        assert value(after, "deepseek_free_api_upstream_errors_total", error="InvalidTokenError") >= 1
        assert value(after, REQUESTS, route="/v1/chat/completions", status="200") == 3
