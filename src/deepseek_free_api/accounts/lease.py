"""A lease: exclusive use of one account for one generation, and what the pool shows of each account."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from ..errors import ServiceError
from .account import Account, AccountSource
from .health import AccountHealth, AccountState


@dataclass(frozen=True, slots=True)
class AccountStatus:
    """One account as seen from outside (admin page, metrics); never carries a secret."""

    id: str
    source: AccountSource
    state: AccountState
    until: float | None  # epoch seconds when a muted/cooldown/pacing state ends
    in_flight: int
    leases: int
    successes: int
    errors: int
    last_error: str | None  # error class name of the last reported failure
    reason: str | None  # why the account is invalid

    @classmethod
    def of(cls, account: Account, health: AccountHealth, *, now: float, wall: float) -> AccountStatus:
        """How ``account`` looks at pool time ``now``, which is ``wall`` in epoch seconds."""
        state, until = health.state(now)
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
        )


class Lease:
    """Exclusive use of ``account`` until ``release()``; an async context manager that releases on exit."""

    def __init__(
        self,
        account: Account,
        *,
        on_report: Callable[[Lease, ServiceError | None], None],
        on_release: Callable[[Lease], None],
    ) -> None:
        self.account = account
        self._on_report = on_report
        self._on_release = on_release
        self._released = False

    @property
    def released(self) -> bool:
        """Whether the account has been handed back."""
        return self._released

    def report_success(self) -> None:
        """The generation on this account worked."""
        self._on_report(self, None)

    def report_error(self, error: ServiceError) -> None:
        """The generation failed with ``error``; the pool updates the account's state from it."""
        self._on_report(self, error)

    def release(self) -> None:
        """Hand the account back to the pool; calling it again does nothing."""
        if self._released:
            return
        self._released = True
        self._on_release(self)

    async def __aenter__(self) -> Lease:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"Lease(account={self.account.id!r}, released={self._released})"
