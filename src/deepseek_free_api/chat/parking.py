"""Accounts parked while DeepSeek may still generate on them: the stop is retried, the lease held.

When ``chat/stop_stream`` fails at the end of a turn, DeepSeek may go on generating, and the next
request on that account would be refused as busy (PROTOCOL.md §2.6). The failover loop then hands
the turn's lease here instead of releasing it: ``Parking`` retries the stop with backoff and
releases the lease once DeepSeek confirms, or once the longest possible generation
(``upstream.generation_max_s``, counted from when it was requested) has passed. Until then the
account stays leased, so the pool hands it to nobody; waiters for it wait or get 429 with
Retry-After like for any busy account.

The holding tasks are owned here and ended by ``aclose`` (the app's lifespan). Their leases are
not released then: another process sharing the store could take the account while DeepSeek may
still generate. The generation is noted on the lease instead, which expires within
``pool.lease_ttl_s``; whoever takes the account next stops that generation first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from deepseek_free_api.chat.generation import UnconfirmedStop, Upstream, send_stop

log = logging.getLogger(__name__)

DEFAULT_GENERATION_MAX_S = 600.0
FIRST_RETRY_S = 0.5
RETRY_MAX_S = 8.0


class Renewable(Protocol):
    """A lease that can be kept alive while it is parked (``accounts.Lease``)."""

    async def renew(self) -> bool: ...
    async def generating(self, session_id: str, message_id: int | None) -> None: ...


LeaseT = TypeVar("LeaseT", bound=Renewable)


class Parking:
    """Holds the leases of accounts whose generation DeepSeek did not confirm stopped."""

    def __init__(
        self,
        client: Upstream,
        *,
        generation_max_s: float = DEFAULT_GENERATION_MAX_S,
        first_retry_s: float = FIRST_RETRY_S,
        retry_max_s: float = RETRY_MAX_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._generation_max_s = generation_max_s
        self._first_retry_s = first_retry_s
        self._retry_max_s = retry_max_s
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def parked(self) -> int:
        """How many leases are held here now."""
        return len(self._tasks)

    def park(
        self,
        lease: LeaseT,
        stops: Sequence[UnconfirmedStop],
        release: Callable[[LeaseT], Awaitable[None]],
    ) -> None:
        """Take over ``lease``: ``release`` it once every stop is confirmed or has run out of time."""
        task = asyncio.create_task(self._hold(lease, tuple(stops), release), name="parked-account")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """End every hold now (shutdown); their leases are released."""
        tasks = list(self._tasks)
        if tasks:
            log.warning("%d account(s) may still be generating upstream at shutdown", len(tasks))
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def _hold(
        self,
        lease: LeaseT,
        stops: tuple[UnconfirmedStop, ...],
        release: Callable[[LeaseT], Awaitable[None]],
    ) -> None:
        pending = list(stops)
        try:
            while pending:
                await self._until_stopped(lease, pending[0])
                pending.pop(0)
        except asyncio.CancelledError:
            # Shutdown: other processes sharing the store may take the account once its lease is
            # released, while DeepSeek may still generate. Leave the generation noted on the
            # lease instead: it expires within the TTL, and its next holder stops it first.
            if not await asyncio.shield(_leave(lease, pending[0])):
                await asyncio.shield(release(lease))
            raise
        except Exception:  # noqa: BLE001 - never lose the lease over a bug in the retry loop
            log.exception("parking an account failed; releasing it")
        await asyncio.shield(release(lease))

    async def _until_stopped(self, lease: Renewable, stop: UnconfirmedStop) -> None:
        deadline = stop.started_at + self._generation_max_s
        delay = self._first_retry_s
        while True:
            left = deadline - self._clock()
            if left <= 0:
                log.warning(
                    "DeepSeek never confirmed the stop of message %d; handing the account on after "
                    "upstream.generation_max_s=%g",
                    stop.message_id,
                    self._generation_max_s,
                )
                return
            await asyncio.sleep(min(delay, left))
            await lease.renew()
            try:
                await send_stop(self._client, stop)
            except Exception as exc:  # noqa: BLE001 - retried until the deadline
                log.info("stop_stream for message %d failed again: %s", stop.message_id, exc)
                delay = min(delay * 2, self._retry_max_s)
                continue
            log.info("DeepSeek confirmed the stop of message %d; the account is free again", stop.message_id)
            return


async def _leave(lease: Renewable, stop: UnconfirmedStop) -> bool:
    """Note ``stop``'s generation on the lease for its next holder; False if the lease is gone."""
    try:
        await lease.generating(stop.session_id, stop.message_id)
    except Exception:  # noqa: BLE001 - lost or unreachable: releasing is all that is left
        return False
    return True
