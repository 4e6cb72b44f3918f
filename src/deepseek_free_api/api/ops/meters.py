"""Thin wrappers that measure the chat core from outside, so ``chat/`` and ``accounts/`` stay unaware.

``app.py`` puts them between the parts it wires: ``MeteredRunner`` around the failover loop (the
request's model), ``MeteredLeases`` around the account pool (the queue wait, the account, failed
attempts) and ``TimedWarmth`` around the warm accounts (the proof-of-work wait). Each adds a clock
read and a field write per call, and calls happen a few times per request, never per chunk.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from typing import Any

from deepseek_free_api.api.ops.labels import model_label
from deepseek_free_api.api.ops.metrics import Metrics
from deepseek_free_api.api.ops.record import current_request
from deepseek_free_api.chat.failover import Caller, ChatRunner, LeasedAccount, Pool
from deepseek_free_api.chat.ports import EventSink, Warmth
from deepseek_free_api.chat.request import ChatRequest
from deepseek_free_api.errors import ServiceError
from deepseek_free_api.upstream.client import Identity


class MeteredRunner:
    """The failover loop, noting the request's model first."""

    def __init__(self, runner: ChatRunner) -> None:
        self._runner = runner

    async def run(self, request: ChatRequest, caller: Caller, sink: EventSink) -> None:
        """``ChatRunner.run``."""
        record = current_request.get()
        if record is not None:
            record.model = model_label(request.model)
        await self._runner.run(request, caller, sink)


class MeteredLeases:
    """The account pool as the failover loop sees it, timing waits and counting failed attempts."""

    def __init__(self, leases: Pool[Any], metrics: Metrics) -> None:
        self._leases = leases
        self._metrics = metrics

    async def acquire(
        self,
        *,
        candidates: Sequence[str] | None,
        prefer: str | None,
        require: bool,
        exclude: Collection[str],
        owner: str,
        timeout_s: float | None = None,
    ) -> Any:
        """``Pool.acquire``; the wait is measured whether an account came or not."""
        started = time.perf_counter()
        try:
            lease = await self._leases.acquire(
                candidates=candidates,
                prefer=prefer,
                require=require,
                exclude=exclude,
                owner=owner,
                timeout_s=timeout_s,
            )
        except ServiceError:
            self._metrics.queue_wait(time.perf_counter() - started)
            raise
        self._metrics.queue_wait(time.perf_counter() - started)
        record = current_request.get()
        if record is not None:
            record.account = lease.account.id
        return lease

    async def report(self, lease: Any, error: ServiceError | None) -> None:
        """``Pool.report``."""
        if error is not None:
            self._metrics.attempt_failed(error)
        await self._leases.report(lease, error)

    async def release(self, lease: Any) -> None:
        """``Pool.release``."""
        await self._leases.release(lease)

    def recheck_in(self, candidates: Sequence[str] | None) -> float | None:
        """``Pool.recheck_in``."""
        return self._leases.recheck_in(candidates)

    def register_caller_tokens(self, tokens: Sequence[str]) -> list[str]:
        """``Pool.register_caller_tokens``."""
        return self._leases.register_caller_tokens(tokens)

    def get(self, account_id: str) -> LeasedAccount | None:
        """``Pool.get``."""
        return self._leases.get(account_id)


class TimedWarmth:
    """Warm accounts as a turn uses them, timing the wait for each proof-of-work answer."""

    def __init__(self, warmth: Warmth, metrics: Metrics) -> None:
        self._warmth = warmth
        self._metrics = metrics

    async def session(self, account_id: str, identity: Identity) -> str:
        """``Warmth.session`` (Step 9's session reuse counts its hits and misses around here)."""
        return await self._warmth.session(account_id, identity)

    async def pow_header(self, account_id: str, identity: Identity, target_path: str) -> str:
        """``Warmth.pow_header``, timed."""
        started = time.perf_counter()
        header = await self._warmth.pow_header(account_id, identity, target_path)
        self._metrics.pow_wait(time.perf_counter() - started)
        return header

    def refill(self, account_id: str) -> None:
        """``Warmth.refill``."""
        self._warmth.refill(account_id)

    def pow_rejected(self) -> None:
        """``Warmth.pow_rejected``."""
        self._warmth.pow_rejected()
