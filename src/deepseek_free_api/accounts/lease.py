"""A lease: exclusive use of one account for one generation, and what the pool shows of each account."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

from .account import Account, AccountSource
from .health import AccountHealth, AccountState

if TYPE_CHECKING:
    from .store import LeaseStore


@dataclass(frozen=True, slots=True)
class AccountStatus:
    """One account as seen from outside (admin page, metrics); never carries a secret."""

    id: str
    source: AccountSource
    state: AccountState
    until: float | None  # epoch seconds when a muted/cooldown/pacing/invalid state ends
    in_flight: int
    leases: int
    successes: int
    errors: int
    last_error: str | None  # error class name of the last reported failure
    reason: str | None  # why the account is invalid
    owner: str | None = None  # who holds the current lease
    fence: int | None = None  # the current lease's fence number
    leased_at: float | None = None  # epoch seconds
    lease_expires_at: float | None = None  # epoch seconds
    # The health condition (accounts/condition.py): healthy, throttled, muted, banned, …, with the
    # reason and epoch times of its last change.
    condition: str = "healthy"
    condition_reason: str | None = None
    condition_since: float | None = None
    condition_until: float | None = None

    @classmethod
    def of(cls, account: Account, health: AccountHealth, *, now: float, wall: float) -> AccountStatus:
        """How ``account`` looks at pool time ``now``, which is ``wall`` in epoch seconds."""
        state, until = health.state(now)
        holder = health.holder
        last = health.last_transition
        return cls(
            id=account.id,
            source=account.source,
            state=state,
            until=None if until is None else wall + (until - now),
            in_flight=int(health.busy),
            leases=health.leases,
            successes=health.successes,
            errors=health.errors,
            last_error=health.last_error,
            reason=health.invalid_reason,
            owner=None if holder is None else holder.owner,
            fence=None if holder is None else holder.fence,
            leased_at=None if holder is None else holder.acquired_at,
            lease_expires_at=None if holder is None else holder.expires_at,
            condition=health.condition.value,
            condition_reason=None if last is None else last.reason,
            condition_since=None if last is None else last.at,
            condition_until=None if last is None else last.until,
        )


class Lease:
    """Exclusive use of ``account`` until its store releases it; an async context manager that releases.

    ``fence`` grows with every lease of the same account, so a store can refuse a report or a
    release from a holder that lost the account. ``acquired_at`` and ``expires_at`` are epoch
    seconds; the holder calls ``renew()`` while it works to move ``expires_at``.
    """

    def __init__(
        self,
        account: Account,
        *,
        owner: str,
        fence: int,
        acquired_at: float,
        expires_at: float,
        store: LeaseStore,
    ) -> None:
        self.account = account
        self.owner = owner
        self.fence = fence
        self.acquired_at = acquired_at
        self.expires_at = expires_at
        self._store = store
        self._released = False

    @property
    def released(self) -> bool:
        """Whether the account has been handed back."""
        return self._released

    def mark_released(self) -> bool:
        """For stores: note the release; False if it had already been released."""
        first = not self._released
        self._released = True
        return first

    async def renew(self) -> bool:
        """Move ``expires_at`` a TTL ahead; False if this lease no longer holds the account."""
        return await self._store.renew(self)

    async def __aenter__(self) -> Lease:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._store.release(self)

    def __repr__(self) -> str:
        return (
            f"Lease(account={self.account.id!r}, owner={self.owner!r}, fence={self.fence}, "
            f"released={self._released})"
        )
