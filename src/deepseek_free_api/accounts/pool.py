"""The account pool: exclusive leases on DeepSeek accounts, a bounded FIFO queue of waiters.

DeepSeek runs one generation per account at a time and refuses a second one (PROTOCOL.md §2.6),
so every generation holds a lease. Waiters are served strictly in arrival order among those that
can use a freed account; an account is handed to a waiter directly (marked busy before the waiter
wakes), so a release wakes exactly one waiter and two leases never share an account.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence

from ..config import device_id_for, token_identity
from ..errors import CapacityError, ServiceError
from .account import Account, token_account_id
from .health import AccountHealth
from .lease import AccountStatus, Lease
from .login import LoginHook, log_in
from .matching import Slot, Waiter, candidates_for, estimate_wait, pick, why_hopeless

# Until real lease durations are known, guess that a generation holds an account this long.
DEFAULT_HOLD_S = 10.0
_HOLD_SMOOTHING = 0.2


class AccountPool:
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
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_waiters = max_waiters
        self._device_salt = device_salt  # caller accounts get the same device ids as configured ones
        self.wait_timeout_s = wait_timeout_s
        self.min_interval_s = min_interval_s
        self.max_caller_accounts = max_caller_accounts
        self._login = login
        self._clock = clock
        self._wall_clock = wall_clock
        self._slots: dict[str, Slot] = {}
        self._by_token: dict[str, str] = {}
        self._callers: OrderedDict[str, None] = OrderedDict()  # least recently used first
        self._waiters: deque[Waiter] = deque()
        self._seq = 0
        self._hold_s = DEFAULT_HOLD_S
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = 0.0
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        for account in accounts:
            self.add(account)

    # -- registry -------------------------------------------------------------------------------

    def add(self, account: Account) -> None:
        """Put an account into rotation."""
        if account.id in self._slots:
            raise ValueError(f"duplicate account id {account.id!r}")
        if account.token is not None and account.token in self._by_token:
            raise ValueError(
                f"account {account.id!r} has the same token as {self._by_token[account.token]!r}"
            )
        health = AccountHealth()
        if account.token is None:
            if account.has_credentials and self._login is not None:
                health.needs_login = True
            else:
                health.invalidate("no token, and no credentials with a login hook")
        self._slots[account.id] = Slot(account, health)
        if account.token is not None:
            self._by_token[account.token] = account.id
        if account.source == "caller":
            self._callers[account.id] = None
        self._dispatch()

    def remove(self, account_id: str) -> Account | None:
        """Take an account out; a lease still holding it ends normally."""
        slot = self._slots.pop(account_id, None)
        if slot is None:
            return None
        self._forget_token(slot.account)
        self._callers.pop(account_id, None)
        self._dispatch()
        return slot.account

    def get(self, account_id: str) -> Account | None:
        """The account with this id, if any."""
        slot = self._slots.get(account_id)
        return None if slot is None else slot.account

    def __contains__(self, account_id: object) -> bool:
        return account_id in self._slots

    def __len__(self) -> int:
        return len(self._slots)

    def update_token(self, account_id: str, token: str) -> None:
        """Give an account a new token (after a login or from an operator); clears invalidity."""
        slot = self._slots[account_id]
        self._forget_token(slot.account)
        slot.account.token = token
        self._by_token[token] = account_id
        slot.health.token_changed()
        self._dispatch()

    def _forget_token(self, account: Account) -> None:
        if account.token is not None and self._by_token.get(account.token) == account.id:
            del self._by_token[account.token]

    def reset(self, account_id: str) -> None:
        """Clear cooldown, mute and invalidity of an account."""
        self._slots[account_id].health.reset()
        self._dispatch()

    def register_caller_tokens(self, tokens: Sequence[str]) -> list[str]:
        """Accounts for tokens a caller brought; the same token always maps to the same account."""
        ids: list[str] = []
        for raw in tokens:
            token = raw.strip()
            if not token:
                continue
            account_id = self._by_token.get(token)
            if account_id is None:
                account_id = token_account_id(token)
                if account_id in self._slots:  # a prefix clash with another token: use the full hash
                    account_id = token_account_id(token, hex_digits=64)
                device_id = device_id_for(token_identity(token), self._device_salt)
                self.add(Account.from_token(token, name=account_id, source="caller", device_id=device_id))
            if account_id in self._callers:
                self._callers.move_to_end(account_id)
            if account_id not in ids:
                ids.append(account_id)
        self._evict_callers(keep=set(ids))
        return ids

    def _evict_callers(self, keep: Collection[str] = ()) -> None:
        excess = len(self._callers) - self.max_caller_accounts
        if excess <= 0:
            return
        wanted = {w.prefer for w in self._waiters} | {i for w in self._waiters for i in w.candidates or ()}
        for account_id in list(self._callers):
            if excess <= 0:
                break
            if account_id in keep or account_id in wanted or self._slots[account_id].health.busy:
                continue
            self.remove(account_id)
            excess -= 1

    # -- leasing ----------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lease(
        self,
        *,
        candidates: Sequence[str] | None = None,
        prefer: str | None = None,
        require: bool = False,
        exclude: Collection[str] = (),
        timeout_s: float | None = None,
    ) -> AsyncIterator[Lease]:
        """``acquire`` as an async context manager that always releases."""
        lease = await self.acquire(
            candidates=candidates, prefer=prefer, require=require, exclude=exclude, timeout_s=timeout_s
        )
        try:
            yield lease
        finally:
            lease.release()

    async def acquire(
        self,
        *,
        candidates: Sequence[str] | None = None,
        prefer: str | None = None,
        require: bool = False,
        exclude: Collection[str] = (),
        timeout_s: float | None = None,
    ) -> Lease:
        """Wait for a free account among ``candidates`` (all server accounts if None).

        ``prefer`` is taken when free; with ``require`` only ``prefer`` will do (a native
        conversation lives on one account). ``exclude`` skips accounts that just failed.
        Raises CapacityError when the queue is full or nothing frees within the wait budget, and
        fails at once when no candidate could serve within it.
        """
        if require and prefer is None:
            raise ValueError("require=True needs prefer")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.wait_timeout_s if timeout_s is None else timeout_s)
        wanted = None if candidates is None else tuple(candidates)
        excluded = frozenset(exclude)
        retrying = False
        while True:
            waiter = Waiter(wanted, prefer, require, excluded, deadline, loop.create_future())
            slot = await self._wait(waiter, first=retrying)
            if slot.health.needs_login or slot.account.token is None:
                if not await self._log_in(slot):
                    retrying = True  # keep this request's place at the head of the queue
                    continue
            return Lease(slot.account, on_report=self._report, on_release=self._release)

    async def _wait(self, waiter: Waiter, *, first: bool) -> Slot:
        if first:
            self._waiters.appendleft(waiter)
        else:
            self._waiters.append(waiter)
        self._dispatch()
        future = waiter.future
        if not future.done() and len(self._waiters) > self.max_waiters:
            self._waiters.remove(waiter)
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
        # The waiter went away (cancelled or timed out). If an account was handed to it in the
        # meantime, give that account to the next waiter instead of leaking it.
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)
        future = waiter.future
        if future.done() and not future.cancelled() and future.exception() is None:
            future.result().health.abandon()
        future.cancel()
        self._dispatch()

    async def _log_in(self, slot: Slot) -> bool:
        health, account = slot.health, slot.account
        token: str | None = None
        try:
            token = await log_in(account, health, self._login, self._clock)
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

    def _report(self, lease: Lease, error: ServiceError | None) -> None:
        slot = self._slots.get(lease.account.id)
        if slot is None or slot.account is not lease.account:
            return
        if error is None:
            slot.health.succeed()
            return
        can_login = slot.account.has_credentials and self._login is not None
        slot.health.record_error(error, now=self._clock(), wall_now=self._wall_clock(), can_login=can_login)
        self._dispatch()  # waiters that can no longer be served should learn it now

    def _release(self, lease: Lease) -> None:
        slot = self._slots.get(lease.account.id)
        if slot is not None and slot.account is lease.account and slot.health.busy:
            held = slot.health.end(self._clock(), self.min_interval_s)
            self._hold_s += _HOLD_SMOOTHING * (held - self._hold_s)
            if lease.account.id in self._callers:
                self._callers.move_to_end(lease.account.id)
                self._evict_callers()
        self._dispatch()

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
        remaining: deque[Waiter] = deque()
        for waiter in self._waiters:
            if waiter.future.done():
                continue
            slot = pick(waiter, candidates_for(waiter, self._slots), now)
            if slot is not None:
                self._seq += 1
                slot.health.begin(now, self._seq)
                waiter.future.set_result(slot)
                continue
            error = self._hopeless(waiter, now)
            if error is not None:
                waiter.future.set_exception(error)
                continue
            remaining.append(waiter)
        self._waiters = remaining
        self._arm_timer(now)

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
        # Paused accounts (pacing, cooldown, mute) become free without any event; wake the queue then.
        if not self._waiters:
            return
        pending = [
            until
            for s in self._slots.values()
            if not s.health.busy
            and s.health.invalid_reason is None
            and (until := s.health.blocked_until()) > now
        ]
        if not pending:
            return
        due = min(pending)
        loop = asyncio.get_running_loop()
        timer = self._timer
        if (
            timer is not None
            and not timer.cancelled()
            and self._timer_due <= due
            and self._timer_loop is loop
        ):
            return
        if timer is not None:
            timer.cancel()
        self._timer, self._timer_due, self._timer_loop = loop.call_later(due - now, self._on_timer), due, loop

    def _on_timer(self) -> None:
        self._timer = None
        self._dispatch()

    # -- observation ----------------------------------------------------------------------------------

    def snapshot(self) -> list[AccountStatus]:
        """The state of every account, for an admin page and metrics."""
        now, wall = self._clock(), self._wall_clock()
        return [AccountStatus.of(s.account, s.health, now=now, wall=wall) for s in self._slots.values()]
