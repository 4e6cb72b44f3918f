"""The server's Prometheus metrics: one registry per application, served by ``GET /metrics``.

On the request path a metric costs a dictionary lookup (label children are cached here, not
looked up through prometheus-client's validating ``labels()``) and one increment or observation
per request, never per chunk. Account states, leases and the queue are read from the pool when
``/metrics`` is scraped, so they cost nothing between scrapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.exposition import generate_latest

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


ChildT = TypeVar("ChildT", Counter, Histogram)


class _Children(dict[tuple[str, ...], ChildT]):
    """A metric's children by label values, made once each."""

    def __init__(self, metric: ChildT) -> None:
        super().__init__()
        self._metric: ChildT = metric

    def __missing__(self, values: tuple[str, ...]) -> ChildT:
        child = self[values] = self._metric.labels(*values)
        return child


class Metrics:
    """Every metric of one application, and the text ``/metrics`` answers with."""

    def __init__(self) -> None:
        # ``*_created`` series double the output and no dashboard of ours reads them.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry = CollectorRegistry(auto_describe=True)

        def counter(name: str, doc: str, labels: Sequence[str]) -> _Children[Counter]:
            return _Children(Counter(name, doc, labels, namespace=NAMESPACE, registry=registry))

        def histogram(name: str, doc: str, labels: Sequence[str], buckets: Sequence[float]) -> Histogram:
            return Histogram(name, doc, labels, namespace=NAMESPACE, registry=registry, buckets=buckets)

        def gauge(name: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
            return Gauge(name, doc, labels, namespace=NAMESPACE, registry=registry)

        self._requests = counter(
            "requests",
            "HTTP requests answered, by route template, API dialect, model, caller key and status",
            ["route", "dialect", "model", "key", "status"],
        )
        self._duration = _Children(
            histogram(
                "request_duration_seconds",
                "Time from a request's arrival to the end of its answer, by route template",
                ["route"],
                _DURATION_BUCKETS,
            )
        )
        self._ttft = _Children(
            histogram(
                "time_to_first_token_seconds",
                "Time from a chat request's arrival to its first answer event, by API dialect",
                ["dialect"],
                _LATENCY_BUCKETS,
            )
        )
        self._queue_wait = histogram(
            "queue_wait_seconds",
            "Time a chat attempt waited for an account (a login included), granted or refused",
            [],
            _WAIT_BUCKETS,
        )
        self._pow = histogram(
            "pow_seconds",
            "Time a chat turn waited for its proof-of-work answer (near 0 when it was solved ahead)",
            [],
            _POW_BUCKETS,
        )
        self._input_tokens = counter("input_tokens", "Prompt tokens sent upstream", ["key", "model"])
        self._output_tokens = counter("output_tokens", "Answer tokens, reasoning included", ["key", "model"])
        self._upstream_calls = counter("upstream_calls", "Calls to DeepSeek, by endpoint", ["endpoint"])
        self._upstream_errors = counter(
            "upstream_errors", "Failed calls to DeepSeek, by endpoint and error class", ["endpoint", "error"]
        )
        self._attempt_errors = counter(
            "attempt_errors",
            "Chat attempts that failed on an account, by error class (mid-stream failures included)",
            ["error"],
        )
        self._canary = counter(
            "canary_runs", "Drift canary runs on an account, by verdict (ok, muted, banned, …)", ["verdict"]
        )
        self._reuse = counter(
            "session_reuse",
            "Follow-ups that could go on in an earlier DeepSeek session (session reuse, "
            "previous_response_id), by outcome: hit, miss, rollover, unavailable, busy, failed, taken",
            ["outcome"],
        )
        self._accounts = gauge("accounts", "Accounts by state and source", ["state", "source"])
        self._leases = gauge("leases_in_use", "Accounts leased to a generation now")
        self._queue_length = gauge("queue_length", "Requests waiting for an account now")

    # -- the request path -------------------------------------------------------------------------

    def request(self, route: str, dialect: str, model: str, key: str, status: int, seconds: float) -> None:
        """One answered request."""
        self._requests[(route, dialect, model, key, str(status))].inc()
        self._duration[(route,)].observe(seconds)

    def first_token(self, dialect: str, seconds: float) -> None:
        """A chat answer's first event left the server this long after the request arrived."""
        self._ttft[(dialect,)].observe(seconds)

    def tokens(self, key: str, model: str, usage: TokenUsage) -> None:
        """Token counts of one answer."""
        self._input_tokens[(key, model)].inc(usage.prompt_tokens)
        self._output_tokens[(key, model)].inc(usage.completion_tokens)

    def queue_wait(self, seconds: float) -> None:
        """One wait for an account."""
        self._queue_wait.observe(seconds)

    def pow_wait(self, seconds: float) -> None:
        """One wait for a proof-of-work answer."""
        self._pow.observe(seconds)

    def attempt_failed(self, error: BaseException) -> None:
        """A chat attempt failed on its account."""
        self._attempt_errors[(type(error).__name__,)].inc()

    def upstream_call(self, endpoint: str, error: BaseException | None) -> None:
        """One call to DeepSeek and, if it failed, why (``upstream.client`` calls this)."""
        self._upstream_calls[(endpoint,)].inc()
        if error is not None:
            self._upstream_errors[(endpoint, type(error).__name__)].inc()

    def session_reuse(self, outcome: str) -> None:
        """What became of a follow-up that could go on in an earlier session (``chat.resume``)."""
        self._reuse[(outcome,)].inc()

    def canary(self, verdict: str) -> None:
        """One canary run on one account ended with ``verdict`` (``canary.kind``)."""
        self._canary[(verdict,)].inc()

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
