"""Requests waiting for an account, matched to accounts through the store's leases.

The queue is this process's own: a *pass* serves it oldest first. For each waiter it ranks the
candidates by what this process knows (its own leases, mutes, cooldowns, pacing, accounts the
store lately refused as leased elsewhere) and asks the store for a lease on the first of them
that is free everywhere. A pass runs in the arriving request's own task (a free account is had
without a task switch), and in the dispatcher task whenever something may have freed an account:
a release here, a release in another process (``LeaseStore.wait_released``: Redis publishes it,
SQLite is polled), a pause ending (a timer), and at least every ``WATCH_S`` while anyone waits,
because a dead process's lease expires without any release.

A pass is shielded from cancellation: a lease the store granted always reaches its waiter, or
goes back to the store.

With ``pool.max_generations_per_hour`` set, each lease handed to a request counts one generation
in the account's hourly window (``accounts.pacing``); an account whose window is full goes back to
the store at once and rests here until the window frees a slot (``AccountHealth.quota_until``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Collection
from typing import cast

from .. import scopes
from ..errors import CapacityError, ServiceError
from ..stores import AccountStore, LeaseStore, RateStore
from ..stores import Lease as Grant
from .health import LeaseRecord
from .lease import Lease, LeaseKeeper
from .matching import (
    Ranking,
    Rankings,
    Slot,
    Waiter,
    candidates_for,
    estimate_wait,
    on_probation,
    one_probe,
    pick,
    why_hopeless,
)
from .pacing import HourlyQuota
from .shared import SharedAccounts
from .waiters import WaiterQueue

log = logging.getLogger(__name__)

# Until real lease durations are known, guess that a generation holds an account this long.
DEFAULT_HOLD_S = 10.0
# Waiters asked for at once in one batch of a pass.
MAX_BATCH = 32
# While requests wait, look at the store at least this often: a dead holder's lease expires silently.
WATCH_S = 1.0


class LeaseQueue(SharedAccounts):
    """The waiting side of the pool: the local queue, its passes, and the tasks that trigger them."""

    def __init__(
        self,
        leases: LeaseStore,
        records: AccountStore,
        rates: RateStore,
        *,
        max_waiters: int,
        max_generations_per_hour: int,
        lease_ttl_s: float,
        min_interval_s: float,
        can_log_in: bool,
        max_caller_accounts: int,
        device_salt: str,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
    ) -> None:
        super().__init__(
            records,
            can_log_in=can_log_in,
            max_caller_accounts=max_caller_accounts,
            device_salt=device_salt,
            clock=clock,
            wall_clock=wall_clock,
        )
        self.max_waiters = max_waiters
        self.lease_ttl_s = lease_ttl_s
        self.min_interval_s = min_interval_s
        self._leases = leases
        self.quota = HourlyQuota(rates, max_generations_per_hour)
        self._waiters = WaiterQueue(on_timer=self.wake)
        self._held: dict[str, Lease] = {}  # this process's live leases, by account: the keeper renews them
        self._hold_s = DEFAULT_HOLD_S
        self._lock = asyncio.Lock()
        self._kicked = asyncio.Event()
        self._queued = asyncio.Event()

    def _changed(self) -> None:
        self.wake()

    def _in_use(self, account_id: str) -> bool:
        if super()._in_use(account_id):
            return True
        return any(w.prefer == account_id or account_id in (w.candidates or ()) for w in self._waiters)

    @staticmethod
    def _stale(slot: Slot) -> bool:
        """Whether to read the account's record before using it, beyond the periodic sync.

        Only when it is about to log in, or to try an invalid mark again: another process may have
        done that already (a login per process would be a ban signal). Other marks set elsewhere
        arrive with the sync (``SYNC_S``); until then a request may meet them itself and move on.
        Reading every time would add a store round trip to every request's first token.
        """
        health, account = slot.health, slot.account
        return account.source == "server" and (
            health.needs_login or account.token is None or health.invalid_reason is not None
        )

    def _slot_of(self, lease: Lease) -> Slot | None:
        slot = self._slots.get(lease.account.id)
        return slot if slot is not None and slot.account is lease.account else None

    async def _dispatcher(self) -> None:
        while True:
            await self._kicked.wait()
            self._kicked.clear()
            try:
                await self._pass()
            except Exception:  # noqa: BLE001 - the store failed: waiters time out, the next pass retries
                log.exception("matching waiting requests to accounts failed; retrying in %g s", WATCH_S)
                await asyncio.sleep(WATCH_S)
                self.wake()

    async def _watcher(self) -> None:
        seen = -1
        while True:
            while not self._waiters:
                self._queued.clear()
                await self._queued.wait()
            try:
                count = await self._leases.wait_released(seen, WATCH_S)
            except Exception:  # noqa: BLE001 - keep watching; a pass on time-out still runs below
                log.exception("waiting for releases in the state store failed")
                await asyncio.sleep(WATCH_S)
                count = seen
            if count != seen:
                seen = count
                for slot in self._slots.values():
                    if slot.health.elsewhere:  # (a read is cheap; a write goes through the change hook)
                        slot.health.elsewhere = False  # someone released something: ask the store again
            self.wake()

    async def _wait(self, waiter: Waiter, *, first: bool) -> Lease:
        self._waiters.push(waiter, first=first)
        self._queued.set()
        try:
            await self._pass()  # in this task: a free account is had without a task switch
        except BaseException:
            await self._abandon(waiter)
            raise
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
            await self._abandon(waiter)
            raise CapacityError(
                "no account became free in time", retry_after=self._retry_after(waiter)
            ) from None
        except BaseException:
            await self._abandon(waiter)
            raise

    async def _abandon(self, waiter: Waiter) -> None:
        # The waiter went away (cancelled or timed out), possibly in the same loop iteration as an
        # account was handed to it: give that account back instead of leaking it.
        self._waiters.discard(waiter)
        future = waiter.future
        if future.done() and not future.cancelled() and future.exception() is None:
            with scopes.shielded():
                await self._give_back(future.result())
        future.cancel()
        self.wake()

    async def _give_back(self, lease: Lease) -> None:
        """A lease handed out but not used: back to the store at once, not counted as a use."""
        if lease.released:
            return
        lease.mark_released()
        self._forget(lease)
        await self._drop(lease.grant)

    def _forget(self, lease: Lease, *, elsewhere: bool = False) -> None:
        """This process no longer holds ``lease`` (given back, lost or left to expire)."""
        if self._held.get(lease.account.id) is lease:
            del self._held[lease.account.id]
        slot = self._slot_of(lease)
        if slot is not None and slot.health.holder is not None and slot.health.holder.fence == lease.fence:
            slot.health.abandon()
            slot.health.elsewhere = elsewhere
        self.wake()

    async def _drop(self, grant: Grant) -> None:
        """End a grant nobody used; one carrying a dead holder's generation is left to expire instead."""
        if grant.orphan is None:
            await self._leases.release(grant)
            return
        orphan = grant.orphan
        await self._leases.note_generation(grant, orphan.session_id, orphan.message_id)

    def wake(self) -> None:
        """Re-check waiters soon (the pool does this itself on every change and when a pause ends)."""
        if self._waiters:
            self._kicked.set()

    @property
    def waiting(self) -> int:
        """How many requests wait for an account."""
        return len(self._waiters)

    async def _pass(self) -> None:
        """Serve the queue, oldest first; shielded, so that no lease the store granted is lost."""
        with scopes.shielded():
            async with self._lock:
                self._kicked.clear()
                refused: set[str] = set()
                while batch := self._batch(refused):
                    await self._ask(batch, refused)
                self._waiters.prune()
                if refused:
                    await self._learn(refused)
                self._arm_timer(self._clock())

    def _batch(self, refused: set[str]) -> list[tuple[Waiter, list[str]]]:
        """Waiters to ask the store for at once, each with its own first choice, and their order.

        Oldest first, each waiter gets a free candidate no older waiter in the batch chose first,
        then its other candidates: asked concurrently, they mostly get their first choices, so 50
        waiters cost about one store round trip, not 50 in a row. A waiter whose candidates are all
        chosen waits for the next batch; one that can never be served is told so now.
        """
        batch: list[tuple[Waiter, list[str]]] = []
        chosen: set[str] = set()
        # Re-checks of invalid marks run one at a time (in this process): see ``one_probe``.
        # (Looked at only when a waiter's candidates include one due for a re-check: rare.)
        probing: bool | None = None
        rankings = Rankings(self._slots, self._clock(), self._ready)
        for waiter in self._waiters:
            if waiter.future.done():
                continue
            kind = rankings.of(waiter)
            ranked, start = kind.ranked, kind.cursor
            if kind.probation:  # rare: this waiter's own list, without a shared place in it
                if probing is None:
                    probing = any(s.health.busy and on_probation(s) for s in self._slots.values())
                ranked, start = Ranking(one_probe(ranked.all(), probing)), 0
                probing = probing or any(on_probation(s) for s in ranked.all())
            if not ranked:
                error = self._hopeless(waiter, kind.candidates(), rankings.now)
                if error is not None:
                    waiter.future.set_exception(error)
                continue
            ids, first = pick(ranked, start, refused, chosen)
            if not kind.probation:
                kind.cursor = first + 1
            if ids:
                chosen.add(ids[0])
                batch.append((waiter, ids))
                if len(batch) == MAX_BATCH:
                    break  # the rest in the next batch: the store's connections are few
        return batch

    async def _ask(self, batch: list[tuple[Waiter, list[str]]], refused: set[str]) -> None:
        """Ask the store for every waiter of ``batch`` at once; hand out what it grants."""
        if len(batch) == 1:  # the common case: no task for it
            waiter, ids = batch[0]
            outcomes: list[Grant | BaseException | None] = [await self._try(waiter, ids)]
        else:
            outcomes = await asyncio.gather(*(self._try(w, ids) for w, ids in batch), return_exceptions=True)
        for (waiter, ids), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if not waiter.future.done():  # the store failed: this waiter hears it
                    waiter.future.set_exception(outcome)
            elif outcome is None:
                refused.update(ids)
            else:
                await self._hand(waiter, outcome)

    async def _try(self, waiter: Waiter, ids: list[str]) -> Grant | None:
        return await self._leases.acquire(ids, waiter.owner, self.lease_ttl_s)

    async def _hand(self, waiter: Waiter, grant: Grant) -> None:
        """Give ``grant`` to ``waiter``, or back to the store if it cannot use it (it then asks again)."""
        slot = self._slots.get(grant.account_id)
        if slot is not None and self._stale(slot):
            await self.adopt(slot, await self._records.get(grant.account_id))
        now = self._clock()
        if slot is None or waiter.future.done() or not slot.health.usable(now):
            await self._drop(grant)  # removed, the waiter left, or marked by another process
            return
        if self.quota.per_hour:
            full = await self.quota.take(grant.account_id)
            if full is not None:  # the waiter stays queued; the pass asks for another account
                await self._drop(grant)
                slot.health.quota_until = max(slot.health.quota_until, self._clock() + full)
                log.info(
                    "account %s reached pool.max_generations_per_hour=%d; resting %.0f s",
                    grant.account_id,
                    self.quota.per_hour,
                    full,
                )
                return
            if waiter.future.done():  # it left while the store counted (the count stays: conservative)
                await self._drop(grant)
                return
        slot.health.elsewhere = False
        slot.health.begin(now, LeaseRecord(grant.owner, grant.fence, grant.acquired_at, grant.expires_at))
        lease = Lease(slot.account, grant, cast(LeaseKeeper, self))  # the pool, this class's subclass
        self._held[grant.account_id] = lease
        waiter.future.set_result(lease)

    async def _learn(self, refused: Collection[str]) -> None:
        """Why the store refused these accounts: a lease elsewhere, or a pause after another process's use."""
        clocks = self.clocks()
        for seen in await self._leases.slots(refused):
            slot = self._slots.get(seen.account_id)
            if slot is None or slot.health.busy:
                continue
            slot.health.elsewhere = seen.holder is not None
            slot.health.ready_at = max(slot.health.ready_at, clocks.to_pool(seen.free_at))

    def _hopeless(self, waiter: Waiter, candidates: list[Slot], now: float) -> ServiceError | None:
        budget = waiter.deadline - asyncio.get_running_loop().time()
        return why_hopeless(waiter, candidates, now, budget)

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
        callers = (self._slots[account_id] for account_id in self._callers)  # the server's: kept in order
        pending = [
            until
            for s in callers
            if not s.health.busy and now < (until := s.health.blocked_until()) < math.inf
        ]
        if (server := self._ready.next_end(now)) is not None:
            pending.append(server)
        if pending:
            due = min(pending)
            self._waiters.wake_in(due - now, due)
