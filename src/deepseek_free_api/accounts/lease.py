"""A lease: exclusive use of one account for one generation, and what the pool shows of each account."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from ..stores import Lease as Grant
from ..stores import Orphan
from .account import Account, AccountSource
from .health import AccountHealth, AccountState


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
    """Exclusive use of ``account``, backed by the store's fenced lease; ``async with`` releases it.

    ``grant`` is the store's record of the lease (owner, fence, epoch times, the generation noted
    on it). The pool renews it every third of its TTL while it is held; a lease the store no longer
    knows (it expired: the process stalled, or the store was unreachable) is ``lost``, and whoever
    asked ``when_lost`` hears of it so that its generation stops. ``orphan`` is what a killed holder
    before this one left running upstream: the pool stops it before handing the lease out.
    """

    def __init__(self, account: Account, grant: Grant, pool: LeaseKeeper) -> None:
        self.account = account
        self.grant = grant
        self._pool = pool
        self._released = False
        self._lost = False
        self._on_lost: list[Callable[[], None]] = []

    @property
    def owner(self) -> str:
        """Who holds it (``pid:request``)."""
        return self.grant.owner

    @property
    def fence(self) -> int:
        """The store's fence number: grows with every lease of the same account."""
        return self.grant.fence

    @property
    def acquired_at(self) -> float:
        """Epoch seconds."""
        return self.grant.acquired_at

    @property
    def expires_at(self) -> float:
        """Epoch seconds (in the store's clock); moved by each renewal."""
        return self.grant.expires_at

    @property
    def orphan(self) -> Orphan | None:
        """The generation a dead holder before this one left (see the class docstring)."""
        return self.grant.orphan

    @property
    def released(self) -> bool:
        """Whether the account has been handed back."""
        return self._released

    @property
    def lost(self) -> bool:
        """Whether the store refused a renewal: the account may belong to someone else now."""
        return self._lost

    def mark_released(self) -> bool:
        """For the pool: note the release; False if it had already been released."""
        first = not self._released
        self._released = True
        return first

    def mark_lost(self) -> None:
        """For the pool: the store no longer holds this lease; tell whoever listens."""
        if self._lost:
            return
        self._lost = True
        for callback in list(self._on_lost):
            callback()

    def when_lost(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` once if the lease is lost; returns a function that forgets it."""
        self._on_lost.append(callback)
        if self._lost:
            callback()

        def forget() -> None:
            if callback in self._on_lost:
                self._on_lost.remove(callback)

        return forget

    async def renew(self) -> bool:
        """Move ``expires_at`` a TTL ahead now; False if this lease no longer holds the account."""
        return await self._pool.renew(self)

    async def generating(self, session_id: str, message_id: int | None) -> None:
        """Note the generation running on this lease, for whoever takes the account if we die."""
        await self._pool.note_generation(self, session_id, message_id)

    async def __aenter__(self) -> Lease:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._pool.release(self)

    def __repr__(self) -> str:
        return (
            f"Lease(account={self.account.id!r}, owner={self.owner!r}, fence={self.fence}, "
            f"released={self._released}, lost={self._lost})"
        )


class LeaseKeeper(Protocol):
    """What a lease asks of its pool (``AccountPool``)."""

    async def renew(self, lease: Lease) -> bool: ...
    async def release(self, lease: Lease) -> None: ...
    async def note_generation(self, lease: Lease, session_id: str, message_id: int | None) -> None: ...
