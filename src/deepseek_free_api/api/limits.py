"""Limits of stored service keys, and usage of every caller, both counted in the store.

A key made with ``keys create`` carries its limits (``chat.principal``). Before a request reaches
an account they are checked in this order, each across every process sharing the store:

- ``--models``: the requested name or the DeepSeek model that answers it must match one of the
  patterns (``fnmatch``, case-insensitive), else 403 ``model_not_allowed``;
- ``--tokens-per-day``: once the key's input + output tokens of the UTC day reach it, 429 until
  midnight UTC;
- ``--concurrency``: a request beyond it is 429 at once (it does not wait); its place is held until
  the request ends, or ``server.request_timeout_s`` plus a minute after a process died;
- ``--rpm``: requests in the last 60 s; 429 with the seconds until the oldest leaves the window.

Every 429 carries ``Retry-After`` and an error naming the limit (``rpm_limit_exceeded``…). Expiry
and revocation are 401s (``api.auth``). Usage: once a request ends, one request and the tokens
of its answer (when it completed) are added to the caller's counters for the UTC day and for the
account that answered; keys from ``auth.api_keys`` and callers' own tokens are counted too, under
their label (``key:1a2b3c4d``, ``tokens:…``), without limits.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from fnmatch import fnmatchcase

from deepseek_free_api import scopes
from deepseek_free_api.chat.events import ChatEvent, Completed, Started
from deepseek_free_api.chat.failover import Caller
from deepseek_free_api.chat.principal import Principal
from deepseek_free_api.chat.request import ChatRequest
from deepseek_free_api.chat.turn import EventSink
from deepseek_free_api.errors import KeyLimitError, ModelNotAllowedError
from deepseek_free_api.stores.protocols import KeyLimits, RateStore, UsageStore

log = logging.getLogger(__name__)

GuardedRun = Callable[[EventSink], Awaitable[None]]
RPM_WINDOW_S = 60.0
DAY_S = 86400.0
# A place in --concurrency outlives the request's own deadline by this much, then frees itself
# (the process holding it died).
TICKET_MARGIN_S = 60.0
# The longest a usage write may delay the end of a request (the store is down: the answer is not).
RECORD_TIMEOUT_S = 5.0


def model_allowed(patterns: tuple[str, ...], *names: str) -> bool:
    """Whether any of ``names`` matches one of the key's ``--models`` patterns (none: every model)."""
    if not patterns:
        return True
    return any(fnmatchcase(name.lower(), pattern.lower()) for name in names for pattern in patterns)


class _Meter:
    """Passes events on, noting the account that answered and the usage of a completed answer."""

    def __init__(self, sink: EventSink) -> None:
        self._sink = sink
        self.account_id = ""
        self.input_tokens = 0
        self.output_tokens = 0

    async def emit(self, events: list[ChatEvent]) -> None:
        for event in events:
            if isinstance(event, Started) and not self.account_id:
                self.account_id = event.account_id
            elif isinstance(event, Completed) and event.usage is not None:
                self.input_tokens = event.usage.prompt_tokens
                self.output_tokens = event.usage.completion_tokens
        await self._sink.emit(events)

    def leased(self) -> None:
        self._sink.leased()


class KeyGate:
    """Enforces stored keys' limits around a chat run and records every caller's usage."""

    def __init__(
        self,
        rates: RateStore,
        usage: UsageStore,
        *,
        request_timeout_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rates = rates
        self._usage = usage
        self._ticket_ttl_s = request_timeout_s + TICKET_MARGIN_S
        self._clock = clock

    def guard(self, caller: Caller, chat: ChatRequest, requested_model: str, run: GuardedRun) -> GuardedRun:
        """``run`` behind the caller's limits, with its usage recorded once it ends."""

        async def guarded(sink: EventSink) -> None:
            principal = caller.principal
            ticket = await self._admit(principal, chat, requested_model)
            meter = _Meter(sink)
            try:
                await run(meter)
            finally:
                # One scope, shielded from the caller's leaving and bounded by its own deadline: a
                # shield around a ``move_on_after`` did the same with two (anyio's clock is the loop's).
                deadline = asyncio.get_running_loop().time() + RECORD_TIMEOUT_S
                with scopes.shielded(deadline):
                    await self._finish(principal.label, ticket, meter)

        return guarded

    async def _admit(self, principal: Principal, chat: ChatRequest, requested_model: str) -> str | None:
        """Check the key's limits; the concurrency ticket it holds (None: no concurrency limit)."""
        limits = principal.limits
        if limits is None:
            return None
        name = principal.label
        if not model_allowed(limits.models, requested_model, chat.model.name):
            raise ModelNotAllowedError(
                f"The service key '{name}' may not use the model '{requested_model[:64]}' (it may use: "
                f"{', '.join(limits.models)})"
            )
        await self._check_tokens(name, limits)
        ticket = None
        if limits.concurrency is not None:
            ticket = uuid.uuid4().hex
            if not await self._rates.enter(name, limits.concurrency, ticket, self._ticket_ttl_s):
                raise KeyLimitError(
                    f"The service key '{name}' already has {limits.concurrency} request(s) in flight, its "
                    f"concurrency limit; retry when one has ended",
                    limit="concurrency",
                    retry_after=1.0,
                )
        if limits.rpm is not None:
            wait = await self._rates.hit(name, limits.rpm, RPM_WINDOW_S)
            if wait is not None:
                if ticket is not None:
                    await self._rates.leave(name, ticket)
                seconds = max(1, math.ceil(wait))
                raise KeyLimitError(
                    f"The service key '{name}' made {limits.rpm} request(s) in the last minute, its rpm "
                    f"limit; the next one is allowed in {seconds} s",
                    limit="rpm",
                    retry_after=wait,
                )
        return ticket

    async def _check_tokens(self, name: str, limits: KeyLimits) -> None:
        if limits.tokens_per_day is None:
            return
        used = (await self._usage.totals(name)).tokens
        if used >= limits.tokens_per_day:
            now = self._clock()
            until_midnight = DAY_S - now % DAY_S  # UTC days start at multiples of 86400 s
            raise KeyLimitError(
                f"The service key '{name}' used {used} tokens today (UTC), its tokens_per_day limit is "
                f"{limits.tokens_per_day}; it resets at midnight UTC",
                limit="tokens_per_day",
                retry_after=until_midnight,
            )

    async def _finish(self, name: str, ticket: str | None, meter: _Meter) -> None:
        try:
            if ticket is not None:
                await self._rates.leave(name, ticket)
            await self._usage.record(
                name, meter.account_id, input_tokens=meter.input_tokens, output_tokens=meter.output_tokens
            )
        except Exception as exc:  # noqa: BLE001 - the answer went out; a lost count must not fail it
            log.warning("recording usage of %s failed: %s: %s", name, type(exc).__name__, exc)
