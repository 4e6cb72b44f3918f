"""The account pool: exclusive leases on DeepSeek accounts, a bounded FIFO queue of waiters.

DeepSeek runs one generation per account at a time and refuses a second one (PROTOCOL.md §2.6),
so every generation holds a lease. Waiters are served strictly in arrival order among those that
can use a freed account; an account is handed to a waiter directly (marked busy before the waiter
wakes), so a release wakes exactly one waiter and two leases never share an account.

This is the in-memory ``LeaseStore``: one process, so a lease past its ``expires_at`` is not taken
back (its owner is alive and will release it); releasing it late is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence

from ..errors import CapacityError, ServiceError
from .account import Account
from .health import INVALID_RECHECK_S, LeaseRecord
from .lease import AccountStatus, Lease
from .login import LoginHook, log_in
from .matching import Slot, Waiter, candidates_for, estimate_wait, pick, why_hopeless
from .registry import AccountRegistry
from .waiters import WaiterQueue

log = logging.getLogger(__name__)

# Until real lease durations are known, guess that a generation holds an account this long.
DEFAULT_HOLD_S = 10.0
_HOLD_SMOOTHING = 0.2
# A lease not renewed for this long is stale; a shared store would take the account back then.
DEFAULT_LEASE_TTL_S = 900.0


class AccountPool(AccountRegistry):
    """Hands out exclusive leases on accounts; see the module docstring."""

    def __init__(
        self,
        accounts: Iterable[Account] = (),
        *,
        max_waiters: int,
        wait_timeout_s: float,
        min_interval_s: float = 0.0,
        login: LoginHook | None = None,
        max_caller_accounts: int = 1000,
        device_salt: str = "",
        lease_ttl_s: float = DEFAULT_LEASE_TTL_S,
        invalid_recheck_s: float = INVALID_RECHECK_S,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            can_log_in=login is not None, max_caller_accounts=max_caller_accounts, device_salt=device_salt
        )
        self.max_waiters = max_waiters
        self.wait_timeout_s = wait_timeout_s
        self.min_interval_s = min_interval_s
        self.lease_ttl_s = lease_ttl_s
        self.invalid_recheck_s = invalid_recheck_s
        self._login = login
        self._clock = clock
        self._wall_clock = wall_clock
        self._waiters = WaiterQueue(on_timer=self._dispatch)
        self._fence = 0  # one counter for all accounts: strictly increasing per account too
        self._hold_s = DEFAULT_HOLD_S
        for account in accounts:
            self.add(account)

    def _changed(self) -> None:
        self._dispatch()

    def _in_use(self, account_id: str) -> bool:
        if super()._in_use(account_id):
            return True
        return any(w.prefer == account_id or account_id in (w.candidates or ()) for w in self._waiters)

    def can_relogin(self, account_id: str) -> bool:
        """Whether the next ``acquire(prefer=account_id)`` would log this account in again."""
        slot = self._slots.get(account_id)
        return (
            slot is not None
            and self._login is not None
            and slot.account.has_credentials
            and slot.health.needs_login
            and slot.health.invalid_reason is None
        )

    # -- leasing ----------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lease(
        self,
        *,
        candidates: Sequence[str] | None = None,
        prefer: str | None = None,
        require: bool = False,
        exclude: Collection[str] = (),
        owner: str = "",
        timeout_s: float | None = None,
    ) -> AsyncIterator[Lease]:
        """``acquire`` as an async context manager that always releases."""
        lease = await self.acquire(
            candidates=candidates,
            prefer=prefer,
            require=require,
            exclude=exclude,
            owner=owner,
            timeout_s=timeout_s,
        )
        try:
            yield lease
        finally:
            await self.release(lease)

    async def acquire(
        self,
        *,
        candidates: Sequence[str] | None = None,
        prefer: str | None = None,
        require: bool = False,
        exclude: Collection[str] = (),
        owner: str = "",
        timeout_s: float | None = None,
    ) -> Lease:
        """A lease on a free account; see ``LeaseStore.acquire``. ``owner`` defaults to ``pid:<pid>``."""
        if require and prefer is None:
            raise ValueError("require=True needs prefer")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.wait_timeout_s if timeout_s is None else timeout_s)
        wanted = None if candidates is None else tuple(candidates)
        excluded = frozenset(exclude)
        holder = owner or f"pid:{os.getpid()}"
        retrying = False
        while True:
            waiter = Waiter(wanted, prefer, require, excluded, deadline, holder, loop.create_future())
            slot = await self._wait(waiter, first=retrying)
            if slot.health.needs_login or slot.account.token is None:
                if not await self._log_in(slot):
                    retrying = True  # keep this request's place at the head of the queue
                    continue
            record = slot.health.holder
            assert record is not None  # handed over busy, and nothing else ends it before we return
            expires_at = self._wall_clock() + self.lease_ttl_s  # a login may have taken a while
            slot.health.extend(expires_at)
            return Lease(
                slot.account,
                owner=record.owner,
                fence=record.fence,
                acquired_at=record.acquired_at,
                expires_at=expires_at,
                store=self,
            )

    async def _wait(self, waiter: Waiter, *, first: bool) -> Slot:
        self._waiters.push(waiter, first=first)
        self._dispatch()
        future = waiter.future
        if not future.done() and len(self._waiters) > self.max_waiters:
            self._waiters.discard(waiter)
            future.cancel()
            raise CapacityError(
                f"all accounts are busy and {self.max_waiters} requests are already waiting",
                retry_after=self._retry_after(waiter),
            )
        try:
            async with asyncio.timeout_at(waiter.deadline):
                return await future
        except TimeoutError:
            self._abandon(waiter)
            raise CapacityError(
                "no account became free in time", retry_after=self._retry_after(waiter)
            ) from None
        except BaseException:
            self._abandon(waiter)
            raise

    def _abandon(self, waiter: Waiter) -> None:
        # The waiter went away (cancelled or timed out), possibly in the same loop iteration as an
        # account was handed to it: give that account to the next waiter instead of leaking it.
        self._waiters.discard(waiter)
        future = waiter.future
        if future.done() and not future.cancelled() and future.exception() is None:
            future.result().health.abandon()
        future.cancel()
        self._dispatch()

    async def _log_in(self, slot: Slot) -> bool:
        health, account = slot.health, slot.account
        token: str | None = None
        try:
            token = await log_in(account, health, self._login, self._clock, recheck_s=self.invalid_recheck_s)
        finally:
            if token is None:  # failed or cancelled: the account goes back to the queue
                health.abandon()
                self._dispatch()
        if token is None:
            return False
        if self._slots.get(account.id) is slot:
            self.update_token(account.id, token)
        else:  # removed while logging in: the lease still works, the registry no longer cares
            account.token = token
            health.token_changed()
        return True

    def _slot_of(self, lease: Lease) -> Slot | None:
        slot = self._slots.get(lease.account.id)
        return slot if slot is not None and slot.account is lease.account else None

    async def report(self, lease: Lease, error: ServiceError | None) -> None:
        """What the generation on ``lease`` came to; ignored once the account was leased again."""
        slot = self._slot_of(lease)
        if slot is None or slot.health.last_lease_seq != lease.fence:
            return  # removed, or leased again since: this holder's news is stale
        if error is None:
            slot.health.succeed()
            return
        now = self._clock()
        slot.health.record_error(
            error,
            now=now,
            wall_now=self._wall_clock(),
            can_login=slot.account.has_credentials and self._login is not None,
            recheck_at=now + self.invalid_recheck_s,
        )
        self._dispatch()  # waiters that can no longer be served should learn it now

    async def release(self, lease: Lease) -> None:
        """Hand the account back; idempotent, and ignored if the account was leased again since."""
        if not lease.mark_released():
            return
        slot = self._slot_of(lease)
        holder = None if slot is None else slot.health.holder
        if slot is None or holder is None or holder.fence != lease.fence:
            return
        late = self._wall_clock() - holder.expires_at
        if late > 0:
            log.warning(
                "lease %d on account %s (owner %s) released %.0f s after it expired; lease_ttl_s=%.0f",
                lease.fence,
                lease.account.id,
                holder.owner,
                late,
                self.lease_ttl_s,
            )
        held = slot.health.end(self._clock(), self.min_interval_s)
        self._hold_s += _HOLD_SMOOTHING * (held - self._hold_s)
        self._touch_caller(lease.account.id)
        self._dispatch()

    async def renew(self, lease: Lease) -> bool:
        """Move ``lease.expires_at`` one TTL ahead; False if the lease no longer holds its account."""
        slot = self._slot_of(lease)
        holder = None if slot is None else slot.health.holder
        if lease.released or slot is None or holder is None or holder.fence != lease.fence:
            return False
        lease.expires_at = self._wall_clock() + self.lease_ttl_s
        slot.health.extend(lease.expires_at)
        return True

    def recheck_in(self, candidates: Sequence[str] | None = None) -> float | None:
        """Seconds until one of these accounts (default: the server's own) may serve again by itself.

        For ``Retry-After`` when none can serve now: the soonest end of an invalid mark's re-check
        time, a mute, cooldown or pause; None when only an operator can bring one back.
        """
        wanted = None if candidates is None else set(candidates)
        now = self._clock()
        ends = [
            slot.health.blocked_until()
            for account_id, slot in self._slots.items()
            if (slot.account.source != "caller" if wanted is None else account_id in wanted)
        ]
        soonest = min((end for end in ends if end < math.inf), default=None)
        return None if soonest is None else max(1.0, soonest - now)

    # -- matching waiters to accounts --------------------------------------------------------------

    def wake(self) -> None:
        """Re-check waiters now (the pool does this itself on every change and when a pause ends)."""
        self._dispatch()

    @property
    def waiting(self) -> int:
        """How many requests wait for an account."""
        return len(self._waiters)

    def _dispatch(self) -> None:
        if not self._waiters:
            return
        now = self._clock()
        self._waiters.serve(lambda waiter: self._offer(waiter, now))
        self._arm_timer(now)

    def _offer(self, waiter: Waiter, now: float) -> Slot | ServiceError | None:
        slot = pick(waiter, candidates_for(waiter, self._slots), now)
        if slot is None:
            return self._hopeless(waiter, now)
        self._fence += 1
        wall = self._wall_clock()
        slot.health.begin(now, LeaseRecord(waiter.owner, self._fence, wall, wall + self.lease_ttl_s))
        return slot

    def _hopeless(self, waiter: Waiter, now: float) -> ServiceError | None:
        budget = waiter.deadline - asyncio.get_running_loop().time()
        return why_hopeless(waiter, candidates_for(waiter, self._slots), now, budget)

    def _retry_after(self, waiter: Waiter) -> float:
        return estimate_wait(
            candidates_for(waiter, self._slots),
            self._clock(),
            hold_s=self._hold_s,
            min_interval_s=self.min_interval_s,
            queued=len(self._waiters),
        )

    def _arm_timer(self, now: float) -> None:
        # Paused accounts (pacing, cooldown, mute, invalid until a re-check) become free without
        # any event; wake the queue then.
        if not self._waiters:
            return
        pending = [
            until
            for s in self._slots.values()
            if not s.health.busy and now < (until := s.health.blocked_until()) < math.inf
        ]
        if not pending:
            return
        due = min(pending)
        self._waiters.wake_in(due - now, due)

    # -- observation ----------------------------------------------------------------------------------

    async def snapshot(self) -> list[AccountStatus]:
        """The state of every account, for an admin page and metrics."""
        now, wall = self._clock(), self._wall_clock()
        return [AccountStatus.of(s.account, s.health, now=now, wall=wall) for s in self._slots.values()]
