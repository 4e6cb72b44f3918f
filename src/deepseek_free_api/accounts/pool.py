"""The account pool: exclusive leases on DeepSeek accounts through the store, a local queue of waiters.

DeepSeek runs one generation per account at a time and refuses a second one (PROTOCOL.md §2.6),
so every generation holds a lease, and leases come from the store's ``LeaseStore``: fenced,
expiring, and shared by every process using the same store (SQLite file, Redis). Waiting requests
queue in this process (``accounts.queue``). A lease is renewed every third of its TTL while held,
by the pool's keeper task; a lease that could not be renewed in time is *lost* and its turn is
stopped. If a holder dies (SIGKILL), its lease expires within the TTL, and whoever gets the account
next first stops the generation the dead holder noted on the lease (``stop_orphan``).

Account state (refreshed tokens, health marks, counters) is written to the ``AccountStore`` by the
lease holder after each login, and after each generation together with the lease's release (one
step of the store, ``AccountStore.amend``), and read back every ``SYNC_S`` seconds and before a
login or the re-check of an invalid mark (``accounts.shared``, ``LeaseQueue._stale``): it survives
restarts and is shared by processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from types import TracebackType

from .. import scopes
from ..errors import AccountBusyError, CapacityError, ServiceError
from ..stores import AccountStore, LeaseStore, Orphan, RateStore
from ..stores import Lease as Grant
from ..stores.memory import MemoryAccounts, MemoryLeases, MemoryRates
from .account import Account
from .health import INVALID_RECHECK_S, AccountState
from .lease import AccountStatus, Lease
from .login import LoginHook, log_in
from .matching import Slot, Waiter
from .queue import LeaseQueue

log = logging.getLogger(__name__)

OrphanHook = Callable[[Account, Orphan], Awaitable[bool]]  # True once DeepSeek confirmed the stop

_HOLD_SMOOTHING = 0.2
DEFAULT_LEASE_TTL_S = 30.0
DEFAULT_LOGIN_CONCURRENCY = 2
# How often account records are read back (marks set by other processes, accounts added or removed).
SYNC_S = 5.0


# A parked lease's report is written by the keeper once it has waited this long for its release.
_REPORT_WAIT_S = 1.0


@dataclass(frozen=True, slots=True)
class _Unwritten:
    """A turn's report, to be written with its lease's release (``AccountPool.report``)."""

    slot: Slot
    failed: bool
    at: float  # pool time of the report


class AccountPool(LeaseQueue):
    """Hands out exclusive leases on accounts; see the module docstring."""

    def __init__(
        self,
        accounts: Iterable[Account] = (),
        *,
        max_waiters: int,
        wait_timeout_s: float,
        min_interval_s: float = 0.0,
        max_generations_per_hour: int = 0,
        login_concurrency: int = DEFAULT_LOGIN_CONCURRENCY,
        login: LoginHook | None = None,
        stop_orphan: OrphanHook | None = None,
        max_caller_accounts: int = 1000,
        device_salt: str = "",
        lease_ttl_s: float = DEFAULT_LEASE_TTL_S,
        invalid_recheck_s: float = INVALID_RECHECK_S,
        leases: LeaseStore | None = None,
        records: AccountStore | None = None,
        rates: RateStore | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if (leases is None) != (records is None):
            raise ValueError("give both the lease store and the account store, or neither")
        if leases is None or records is None:  # one process only (tests): the memory stores
            memory = MemoryLeases(wall_clock)
            leases, records = memory, MemoryAccounts(memory, wall_clock)
        super().__init__(
            leases,
            records,
            MemoryRates(wall_clock) if rates is None else rates,
            max_waiters=max_waiters,
            max_generations_per_hour=max_generations_per_hour,
            lease_ttl_s=lease_ttl_s,
            min_interval_s=min_interval_s,
            can_log_in=login is not None,
            max_caller_accounts=max_caller_accounts,
            device_salt=device_salt,
            clock=clock,
            wall_clock=wall_clock,
        )
        self.wait_timeout_s = wait_timeout_s
        self.invalid_recheck_s = invalid_recheck_s
        self._login = login
        # Logins at once (pool.prepare_concurrency): twenty accounts logging in together on the
        # first burst of requests after a start would look like a bot to DeepSeek.
        self._logins = asyncio.Semaphore(login_concurrency)
        self._stop_orphan = stop_orphan
        self._tasks: list[asyncio.Task[None]] = []
        self._unwritten: dict[Lease, _Unwritten] = {}  # reports to write with their release
        for account in accounts:
            self.add(account)

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

    # -- the pool's own tasks ---------------------------------------------------------------------

    async def __aenter__(self) -> AccountPool:
        self._start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _start(self) -> None:
        """Start the dispatcher, the release watcher and the keeper (at entry, or on first use)."""
        if self._tasks:
            return
        for name, loop in (("dispatch", self._dispatcher), ("watch", self._watcher), ("keep", self._keeper)):
            self._tasks.append(asyncio.create_task(loop(), name=f"account-pool-{name}"))

    async def aclose(self) -> None:
        """Stop the pool's tasks (the app's lifespan calls this; leases still held expire in the store)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        for lease in list(self._unwritten):  # leases kept past the shutdown: their records are kept
            try:
                await self._write_report(lease)
            except Exception:  # noqa: BLE001 - the store is closing: say what is lost
                log.exception("account %s: writing its record at shutdown failed", lease.account.id)

    async def _keeper(self) -> None:
        tick = min(self.lease_ttl_s / 3, SYNC_S)
        while True:
            await asyncio.sleep(tick)
            try:
                await self.renew_held()
            except Exception:  # noqa: BLE001 - tried again next tick, within the TTL
                log.exception("renewing %d held lease(s) failed", len(self._held))
            try:
                await self._write_late_reports()
            except Exception:  # noqa: BLE001 - tried again next tick, while the lease lives
                log.exception("writing the account record of a kept lease failed")
            try:
                await self.sync()
            except Exception:  # noqa: BLE001 - the next tick reads them again
                log.exception("reading account records from the state store failed")

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
        """A lease on a free account among ``candidates`` (all server accounts if None).

        ``prefer`` is taken when free (an account needing a login is logged in first); with
        ``require`` only ``prefer`` will do. ``exclude`` skips accounts that just failed. Waits in
        a bounded FIFO queue; raises CapacityError (with ``retry_after``) when the queue is full
        or nothing frees within ``timeout_s`` (``wait_timeout_s`` if None), and fails at once when
        no candidate could serve within it. ``owner`` defaults to ``pid:<pid>``.
        """
        if require and prefer is None:
            raise ValueError("require=True needs prefer")
        self._start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.wait_timeout_s if timeout_s is None else timeout_s)
        wanted = None if candidates is None else tuple(candidates)
        excluded = frozenset(exclude)
        holder = owner or f"pid:{os.getpid()}"
        retrying = False
        while True:
            waiter = Waiter(wanted, prefer, require, excluded, deadline, holder, loop.create_future())
            lease = await self._wait(waiter, first=retrying)
            try:
                ready = await self._prepare(lease)
            except BaseException:
                with scopes.shielded():
                    await self._give_back(lease)
                raise
            if ready:
                return lease
            retrying = True  # keep this request's place at the head of the queue

    async def _prepare(self, lease: Lease) -> bool:
        """Stop a dead holder's generation and log in if needed; False if the account cannot serve now."""
        orphan = lease.orphan
        if orphan is not None and not await self._stopped(lease, orphan):
            return False
        slot = self._slot_of(lease)
        if slot is not None and (slot.health.needs_login or lease.account.token is None):
            return await self._log_in(lease, slot)
        return True

    async def _stopped(self, lease: Lease, orphan: Orphan) -> bool:
        account = lease.account
        log.warning(
            "account %s: the lease of %s (fence %d) expired while it was generating (session %s, message %s);"
            " stopping that generation first",
            account.id,
            orphan.owner,
            orphan.fence,
            orphan.session_id,
            orphan.message_id,
        )
        if self._stop_orphan is None or await self._stop_orphan(account, orphan):
            return True
        # Not confirmed: DeepSeek may still generate. Leave the generation noted on this lease and
        # let it expire, so that the next holder tries the stop again; nobody here uses the account.
        lease.mark_released()
        self._forget(lease, elsewhere=True)
        await self._leases.note_generation(lease.grant, orphan.session_id, orphan.message_id)
        return False

    async def _log_in(self, lease: Lease, slot: Slot) -> bool:
        health, account = slot.health, slot.account
        token: str | None = None
        try:
            async with self._logins:
                token = await log_in(
                    account, health, self._login, self._clock, recheck_s=self.invalid_recheck_s
                )
        finally:
            if token is None:  # failed or cancelled: the marks are written, the account goes back
                with scopes.shielded():
                    await self.write_record(lease, slot)
                    await self._give_back(lease)
        if token is None:
            return False
        if self._slots.get(account.id) is slot:
            self.update_token(account.id, token)
        else:  # removed while logging in: the lease still works, the registry no longer cares
            account.token = token
            health.token_changed()
        await self.write_record(lease, slot)  # the new token outlives this process
        return True

    def _holds(self, lease: Lease) -> Slot | None:
        """The account's slot if ``lease`` is its local holder."""
        slot = self._slot_of(lease)
        holder = None if slot is None else slot.health.holder
        return slot if holder is not None and holder.fence == lease.fence else None

    async def report(self, lease: Lease, error: ServiceError | None) -> None:
        """What the generation on ``lease`` came to (None: success); ignored once the lease is stale."""
        slot = self._holds(lease)
        if slot is None or lease.released or lease.lost:
            return  # removed, leased again since, or expired: this holder's news is stale
        if error is None:
            slot.health.succeed()
        else:
            if isinstance(error, AccountBusyError):
                # We hold the account's only lease, yet DeepSeek runs a generation on it: someone
                # outside this store uses it (a server with its own store, the web app).
                log.warning(
                    "DeepSeek says account %s is already generating while this server holds its lease: "
                    "is another server using the same account without sharing this store (store.url)?",
                    lease.account.id,
                )
            now = self._clock()
            slot.health.record_error(
                error,
                now=now,
                wall_now=self._wall_clock(),
                can_login=slot.account.has_credentials and self._login is not None,
                recheck_at=now + self.invalid_recheck_s,
            )
        if slot.account.source == "server":
            # Written with the release that nearly always follows at once: one step of the store
            # instead of three (read, report, release). A lease kept past its turn (parked while a
            # stop is retried) has it written by its next renewal or note, or by the keeper.
            earlier = self._unwritten.get(lease)
            failed = error is not None or (earlier is not None and earlier.failed)
            self._unwritten[lease] = _Unwritten(slot, failed, self._clock())
        self.wake()  # waiters that can no longer be served should learn it now

    async def release(self, lease: Lease) -> None:
        """Hand the account back; idempotent, and ignored if the lease is stale."""
        if not lease.mark_released():
            return
        if self._held.get(lease.account.id) is lease:
            del self._held[lease.account.id]
        slot = self._holds(lease)
        unwritten = self._unwritten.pop(lease, None)
        # A rejected token generated nothing: no pause before logging in again.
        pause = 0.0 if slot is not None and slot.health.needs_login else self.min_interval_s
        try:
            with scopes.shielded():
                if unwritten is not None and unwritten.slot is slot:  # the turn's report: in the same step
                    released = await self.write_record(
                        lease, unwritten.slot, used=True, failed=unwritten.failed, release_pause_s=pause
                    )
                else:
                    released = await self._leases.release(lease.grant, pause_s=pause)
            if not released and not lease.lost:
                log.warning(
                    "lease %d on account %s (owner %s) had expired before its release (pool.lease_ttl_s=%g)",
                    lease.fence,
                    lease.account.id,
                    lease.owner,
                    self.lease_ttl_s,
                )
        finally:
            if slot is not None:
                held = slot.health.end(self._clock(), self.min_interval_s)
                self._hold_s += _HOLD_SMOOTHING * (held - self._hold_s)
                self._touch_caller(lease.account.id)
            self.wake()

    async def renew_held(self) -> None:
        """Renew every lease this process holds, in one call to the store."""
        held = [lease for lease in self._held.values() if not (lease.released or lease.lost)]
        if not held:
            return
        renewed = await self._leases.renew_all([lease.grant for lease in held], self.lease_ttl_s)
        for lease, grant in zip(held, renewed, strict=True):
            if lease.released or lease.lost:
                continue  # ended while the call ran
            if grant is None:
                self._lost(lease)
                continue
            self._extended(lease, grant)

    def _extended(self, lease: Lease, grant: Grant) -> None:
        lease.grant = grant
        slot = self._holds(lease)
        if slot is not None:
            slot.health.extend(grant.expires_at)

    async def _write_report(self, lease: Lease) -> None:
        """Write the report ``release`` has not (yet) written with itself: the lease is kept on."""
        unwritten = self._unwritten.get(lease)
        if unwritten is None:
            return
        if self._holds(lease) is unwritten.slot and not lease.released:
            # Left in place meanwhile: a release that comes while this write waits on the store
            # writes it too (a record is a snapshot, not an increment: twice is harmless).
            await self.write_record(lease, unwritten.slot, used=True, failed=unwritten.failed)
        if self._unwritten.get(lease) is unwritten:
            del self._unwritten[lease]

    async def _write_late_reports(self) -> None:
        """The keeper's part: reports of leases not released within ``_REPORT_WAIT_S``."""
        late = self._clock() - _REPORT_WAIT_S
        for lease in [lease for lease, unwritten in self._unwritten.items() if unwritten.at <= late]:
            await self._write_report(lease)

    async def renew(self, lease: Lease) -> bool:
        """Move ``lease.expires_at`` one TTL ahead; False if the lease no longer holds its account."""
        if lease.released or lease.lost:
            return False
        await self._write_report(lease)
        renewed = await self._leases.renew(lease.grant, self.lease_ttl_s)
        if renewed is None:
            self._lost(lease)
            return False
        self._extended(lease, renewed)
        return True

    async def note_generation(self, lease: Lease, session_id: str, message_id: int | None) -> None:
        """Note the generation about to run on ``lease``; CapacityError if the lease was lost."""
        await self._write_report(lease)
        noted = (
            None if lease.lost else await self._leases.note_generation(lease.grant, session_id, message_id)
        )
        if noted is None:
            self._lost(lease)
            raise CapacityError(
                f"this server lost its lease on account {lease.account.id} before generating "
                "(it was not renewed within pool.lease_ttl_s)"
            )
        lease.grant = noted

    def _lost(self, lease: Lease) -> None:
        if self._held.get(lease.account.id) is lease:
            del self._held[lease.account.id]
        if not lease.lost:
            log.warning(
                "lost the lease on account %s (fence %d): it expired before a renewal; stopping its turn",
                lease.account.id,
                lease.fence,
            )
        lease.mark_lost()

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

    # -- observation ----------------------------------------------------------------------------------

    async def snapshot(self) -> list[AccountStatus]:
        """The state of every account (leases held by other processes included), for pages and metrics."""
        now, wall = self._clock(), self._wall_clock()
        statuses = [AccountStatus.of(s.account, s.health, now=now, wall=wall) for s in self._slots.values()]
        idle = [s.id for s in statuses if s.state is not AccountState.BUSY]
        holders = {seen.account_id: seen.holder for seen in await self._leases.slots(idle) if seen.holder}
        return [
            s
            if (holder := holders.get(s.id)) is None
            else replace(
                s,
                state=AccountState.BUSY,
                until=None,
                owner=holder.owner,
                fence=holder.fence,
                leased_at=holder.acquired_at,
                lease_expires_at=holder.expires_at,
            )
            for s in statuses
        ]
