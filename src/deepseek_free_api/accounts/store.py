"""The lease store interface: what the chat core needs from wherever account leases are kept.

``AccountPool`` keeps them in this process's memory. A shared store (Redis, SQLite) that lets
several server processes use one set of accounts implements the same methods: leases carry an
owner, a fence number and wall-clock expiry for that reason. What a shared store must add: it
reclaims a lease once ``expires_at`` has passed (its holder may be dead), and it refuses a
report, renew or release whose fence is no longer the account's current one.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Protocol

from ..errors import ServiceError
from .lease import AccountStatus, Lease

AccountListener = Callable[[str], None]


class LeaseStore(Protocol):
    """Exclusive, fenced, expiring leases on DeepSeek accounts."""

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
        or nothing frees within ``timeout_s`` (the store's wait budget if None), and fails at
        once when no candidate could serve within it.
        """
        ...

    async def report(self, lease: Lease, error: ServiceError | None) -> None:
        """What the generation on ``lease`` came to (None: success); ignored if the fence is stale."""
        ...

    async def release(self, lease: Lease) -> None:
        """Hand the account back; idempotent, and ignored if the fence is stale."""
        ...

    async def renew(self, lease: Lease) -> bool:
        """Move ``lease.expires_at`` one TTL ahead; False if the lease no longer holds its account."""
        ...

    async def snapshot(self) -> list[AccountStatus]:
        """The state of every account, for an admin page and metrics."""
        ...

    def register_caller_tokens(self, tokens: Sequence[str]) -> list[str]:
        """Account ids for tokens a caller brought; the same token always maps to the same account."""
        ...

    def can_relogin(self, account_id: str) -> bool:
        """Whether the next ``acquire(prefer=account_id)`` would log this account in again."""
        ...

    def subscribe(self, listener: AccountListener) -> Callable[[], None]:
        """Call ``listener(account_id)`` when an account is removed, evicted or gets a new token.

        Returns a function that unsubscribes it.
        """
        ...
