"""The server's Prometheus metrics: one registry per application, served by ``GET /metrics``.

On the request path a metric costs a dictionary update per request, never per chunk: counters and
histograms are plain floats by label values here (``_Counts``, ``_Buckets``), which prometheus-client
reads as metric families when ``/metrics`` is scraped (the exposition is the one its ``Counter`` and
``Histogram`` gave). Its own metric objects cost four Python calls and a lock per increment, about
44 calls per chat turn; the scrape and every update run on the event loop, so no lock is needed.
Account states, leases and the queue are read from the pool when ``/metrics`` is scraped, so they
cost nothing between scrapes.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from itertools import accumulate
from typing import Protocol

from prometheus_client import CollectorRegistry, Gauge, disable_created_metrics
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from deepseek_free_api.accounts import AccountState, AccountStatus
from deepseek_free_api.chat.events import TokenUsage

NAMESPACE = "deepseek_free_api"
# Prometheus' text format 0.0.4: what every Prometheus version and scraper reads.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SOURCES = ("server", "caller")

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
_WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_POW_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class PoolView(Protocol):
    """What the metrics read of the account pool (``accounts.AccountPool``)."""

    @property
    def waiting(self) -> int: ...
    async def snapshot(self) -> list[AccountStatus]: ...


class _Counts(dict[tuple[str, ...], float]):
    """A counter's values by label values (a value is made by its first increment, even of 0)."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        super().__init__()
        self._name = f"{NAMESPACE}_{name}"
        self._documentation = documentation
        self._labels = labels

    def __missing__(self, values: tuple[str, ...]) -> float:
        return 0.0

    def family(self) -> CounterMetricFamily:
        """The counter as prometheus-client writes it."""
        family = CounterMetricFamily(self._name, self._documentation, labels=self._labels)
        for values, count in self.items():
            family.add_metric(values, count)
        return family


class _Buckets(dict[tuple[str, ...], list[float]]):
    """A histogram's counts per bucket (not cumulative, +Inf last) and then its sum, by label values."""

    def __init__(self, name: str, doc: str, labels: Sequence[str], buckets: Sequence[float]) -> None:
        super().__init__()
        self._name = f"{NAMESPACE}_{name}"
        self._documentation = doc
        self._labels = labels
        self._bounds = (*buckets, math.inf)
        self._les = [floatToGoString(bound) for bound in self._bounds]  # type: ignore[no-untyped-call]
        if not labels:
            self[()] = [0.0] * (len(self._bounds) + 1)  # shown from the start, as prometheus-client's

    def __missing__(self, values: tuple[str, ...]) -> list[float]:
        counts = self[values] = [0.0] * (len(self._bounds) + 1)
        return counts

    def observe(self, values: tuple[str, ...], amount: float) -> None:
        """One observation: the first bucket whose bound is at least ``amount``, as prometheus-client."""
        counts = self[values]
        counts[bisect_left(self._bounds, amount)] += 1.0
        counts[-1] += amount

    def family(self) -> HistogramMetricFamily:
        """The histogram as prometheus-client writes it."""
        family = HistogramMetricFamily(self._name, self._documentation, labels=self._labels)
        for values, counts in self.items():
            cumulative = accumulate(counts[:-1])
            family.add_metric(values, list(zip(self._les, cumulative, strict=True)), counts[-1])
        return family


class _Families:
    """The counters and histograms of the request path, for the registry, in the order defined."""

    def __init__(self, metrics: Sequence[_Counts | _Buckets]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        """Each metric's family, with its values now."""
        for metric in self._metrics:
            yield metric.family()


class Metrics:
    """Every metric of one application, and the text ``/metrics`` answers with."""

    def __init__(self) -> None:
        # ``*_created`` series double the output and no dashboard of ours reads them.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry = CollectorRegistry(auto_describe=True)

        def gauge(name: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
            return Gauge(name, doc, labels, namespace=NAMESPACE, registry=registry)

        self._requests = _Counts(
            "requests",
            "HTTP requests answered, by route template, API dialect, model, caller key and status",
            ["route", "dialect", "model", "key", "status"],
        )
        self._duration = _Buckets(
            "request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route template",
            ["route"],
            _DURATION_BUCKETS,
        )
        self._ttft = _Buckets(
            "time_to_first_token_seconds",
            "Time from a chat request's arrival to its first answer event, by API dialect",
            ["dialect"],
            _LATENCY_BUCKETS,
        )
        self._queue_wait = _Buckets(
            "queue_wait_seconds",
            "Time a chat attempt waited for an account (a login included), granted or refused",
            [],
            _WAIT_BUCKETS,
        )
        self._pow = _Buckets(
            "pow_seconds",
            "Time a chat turn waited for its proof-of-work answer (near 0 when it was solved ahead)",
            [],
            _POW_BUCKETS,
        )
        self._input_tokens = _Counts("input_tokens", "Prompt tokens sent upstream", ["key", "model"])
        self._output_tokens = _Counts("output_tokens", "Answer tokens, reasoning included", ["key", "model"])
        self._upstream_calls = _Counts("upstream_calls", "Calls to DeepSeek, by endpoint", ["endpoint"])
        self._upstream_errors = _Counts(
            "upstream_errors", "Failed calls to DeepSeek, by endpoint and error class", ["endpoint", "error"]
        )
        self._attempt_errors = _Counts(
            "attempt_errors",
            "Chat attempts that failed on an account, by error class (mid-stream failures included)",
            ["error"],
        )
        self._canary = _Counts(
            "canary_runs", "Drift canary runs on an account, by verdict (ok, muted, banned, …)", ["verdict"]
        )
        self._reuse = _Counts(
            "session_reuse",
            "Follow-ups that could go on in an earlier DeepSeek session (session reuse, "
            "previous_response_id), by outcome: hit, miss, rollover, unavailable, busy, failed, taken",
            ["outcome"],
        )
        registry.register(
            _Families(
                [
                    self._requests,
                    self._duration,
                    self._ttft,
                    self._queue_wait,
                    self._pow,
                    self._input_tokens,
                    self._output_tokens,
                    self._upstream_calls,
                    self._upstream_errors,
                    self._attempt_errors,
                    self._canary,
                    self._reuse,
                ]
            )
        )
        self._accounts = gauge("accounts", "Accounts by state and source", ["state", "source"])
        self._leases = gauge("leases_in_use", "Accounts leased to a generation now")
        self._queue_length = gauge("queue_length", "Requests waiting for an account now")

    # -- the request path -------------------------------------------------------------------------

    def request(self, route: str, dialect: str, model: str, key: str, status: int, seconds: float) -> None:
        """One answered request."""
        self._requests[(route, dialect, model, key, str(status))] += 1.0
        self._duration.observe((route,), seconds)

    def first_token(self, dialect: str, seconds: float) -> None:
        """A chat answer's first event left the server this long after the request arrived."""
        self._ttft.observe((dialect,), seconds)

    def tokens(self, key: str, model: str, usage: TokenUsage) -> None:
        """Token counts of one answer."""
        self._input_tokens[(key, model)] += usage.prompt_tokens
        self._output_tokens[(key, model)] += usage.completion_tokens

    def queue_wait(self, seconds: float) -> None:
        """One wait for an account."""
        self._queue_wait.observe((), seconds)

    def pow_wait(self, seconds: float) -> None:
        """One wait for a proof-of-work answer."""
        self._pow.observe((), seconds)

    def attempt_failed(self, error: BaseException) -> None:
        """A chat attempt failed on its account."""
        self._attempt_errors[(type(error).__name__,)] += 1.0

    def upstream_call(self, endpoint: str, error: BaseException | None) -> None:
        """One call to DeepSeek and, if it failed, why (``upstream.client`` calls this)."""
        self._upstream_calls[(endpoint,)] += 1.0
        if error is not None:
            self._upstream_errors[(endpoint, type(error).__name__)] += 1.0

    def session_reuse(self, outcome: str) -> None:
        """What became of a follow-up that could go on in an earlier session (``chat.resume``)."""
        self._reuse[(outcome,)] += 1.0

    def canary(self, verdict: str) -> None:
        """One canary run on one account ended with ``verdict`` (``canary.kind``)."""
        self._canary[(verdict,)] += 1.0

    # -- scraping --------------------------------------------------------------------------------

    async def render(self, pool: PoolView | None) -> bytes:
        """The text exposition, with the pool's gauges read now."""
        if pool is not None:
            self._set_pool(await pool.snapshot(), pool.waiting)
        return generate_latest(self.registry, escaping="underscores")

    def _set_pool(self, accounts: Sequence[AccountStatus], waiting: int) -> None:
        counts = {(state.value, source): 0 for state in AccountState for source in SOURCES}
        for account in accounts:
            counts[(account.state.value, account.source)] += 1
        for (state, source), count in counts.items():
            self._accounts.labels(state, source).set(count)
        self._leases.set(sum(account.in_flight for account in accounts))
        self._queue_length.set(waiting)
