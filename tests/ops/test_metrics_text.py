"""The ``/metrics`` text is the one prometheus-client's own ``Counter`` and ``Histogram`` write.

``api/ops/metrics`` keeps the request path's counts as plain floats and hands them to
prometheus-client only when scraped; a scraper (and every dashboard built on the names, labels,
bucket bounds and HELP lines) must see the same text as from prometheus-client's metric objects
given the same updates, byte for byte.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from deepseek_free_api.api.ops import metrics as module
from deepseek_free_api.api.ops.metrics import NAMESPACE, Metrics
from deepseek_free_api.chat.events import TokenUsage

_HELP = {
    "requests": "HTTP requests answered, by route template, API dialect, model, caller key and status",
    "request_duration_seconds": "Time from a request's arrival to the end of its answer, by route template",
    "time_to_first_token_seconds": (
        "Time from a chat request's arrival to its first answer event, by API dialect"
    ),
    "queue_wait_seconds": "Time a chat attempt waited for an account (a login included), granted or refused",
    "pow_seconds": "Time a chat turn waited for its proof-of-work answer (near 0 when it was solved ahead)",
}


def _reference() -> tuple[CollectorRegistry, dict[str, Any]]:
    """prometheus-client's objects for the metrics the test moves, defined as the module defines them."""
    registry = CollectorRegistry(auto_describe=True)

    def counter(name: str, doc: str, labels: list[str]) -> Counter:
        return Counter(name, doc, labels, namespace=NAMESPACE, registry=registry)

    def histogram(name: str, labels: list[str], buckets: tuple[float, ...]) -> Histogram:
        return Histogram(name, _HELP[name], labels, namespace=NAMESPACE, registry=registry, buckets=buckets)

    made: dict[str, Any] = {
        "requests": counter("requests", _HELP["requests"], ["route", "dialect", "model", "key", "status"]),
        "duration": histogram("request_duration_seconds", ["route"], module._DURATION_BUCKETS),
        "ttft": histogram("time_to_first_token_seconds", ["dialect"], module._LATENCY_BUCKETS),
        "queue": histogram("queue_wait_seconds", [], module._WAIT_BUCKETS),
        "pow": histogram("pow_seconds", [], module._POW_BUCKETS),
        "input": counter("input_tokens", "Prompt tokens sent upstream", ["key", "model"]),
        "output": counter("output_tokens", "Answer tokens, reasoning included", ["key", "model"]),
        "calls": counter("upstream_calls", "Calls to DeepSeek, by endpoint", ["endpoint"]),
    }
    Gauge(f"{NAMESPACE}_unused", "keeps the registry non-empty", registry=registry)
    return registry, made


def _families(text: bytes, names: tuple[str, ...]) -> list[str]:
    """The lines of ``text`` that belong to the metrics ``names`` (HELP, TYPE and samples)."""
    return [
        line
        for line in text.decode().splitlines()
        if any(f"{NAMESPACE}_{name}" in line for name in names) and "_created" not in line
    ]


def test_the_request_path_metrics_read_as_prometheus_client_writes_them() -> None:
    ours = Metrics()
    registry, ref = _reference()
    durations = [0.0, 0.004, 0.01, 0.0100001, 0.37, 2.5, 599.0, 601.0, 1e9]
    for index, seconds in enumerate(durations):
        status = (200, 429, 500)[index % 3]
        route = ("/v1/chat/completions", "/v1/messages")[index % 2]
        ours.request(route, "openai", "deepseek-chat", "key-1", status, seconds)
        ref["requests"].labels(route, "openai", "deepseek-chat", "key-1", str(status)).inc()
        ref["duration"].labels(route).observe(seconds)
        ours.first_token("anthropic", seconds)
        ref["ttft"].labels("anthropic").observe(seconds)
        ours.queue_wait(seconds)
        ref["queue"].observe(seconds)
        ours.pow_wait(seconds / 7)
        ref["pow"].observe(seconds / 7)
        ours.upstream_call("/chat/completion", None)
        ref["calls"].labels("/chat/completion").inc()
    ours.tokens("key-1", "deepseek-chat", TokenUsage(12, 30, 4))
    ours.tokens("key-2", "other", TokenUsage(0, 0, 0))  # a zero still makes the series, as before
    for key, model, prompt, completion in (("key-1", "deepseek-chat", 12, 30), ("key-2", "other", 0, 0)):
        ref["input"].labels(key, model).inc(prompt)
        ref["output"].labels(key, model).inc(completion)

    names = (
        "requests_total",
        "request_duration_seconds",
        "time_to_first_token_seconds",
        "queue_wait_seconds",
        "pow_seconds",
        "input_tokens",
        "output_tokens",
        "upstream_calls",
    )
    expected = _families(generate_latest(registry, escaping="underscores"), names)
    got = _families(asyncio.run(ours.render(None)), names)
    assert got == expected
    assert any('le="+Inf"' in line for line in got) and any("_sum" in line for line in got)
