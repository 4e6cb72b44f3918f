"""The hourly quota per account (``pool.max_generations_per_hour``), counted in the store.

The pause between two generations on one account (``pool.min_interval_s``) lives in the lease
store (``LeaseStore.release(pause_s=…)``) and in ``AccountHealth.ready_at``; this quota is a
sliding one-hour window per account in the store's ``RateStore``, the same windows that count a
service key's requests per minute. So every process sharing the store counts into one window,
and a restart forgets nothing.
"""

from __future__ import annotations

from ..stores import RateStore

WINDOW_S = 3600.0


def quota_key(account_id: str) -> str:
    """The account's window in the ``RateStore`` (``:`` cannot occur in a service key's name)."""
    return f"account:{account_id}"


class HourlyQuota:
    """At most ``per_hour`` generations per account in any hour (0: no quota)."""

    def __init__(self, rates: RateStore, per_hour: int) -> None:
        if per_hour < 0:
            raise ValueError("per_hour must be >= 0")
        self._rates = rates
        self.per_hour = per_hour

    async def take(self, account_id: str) -> float | None:
        """Count one generation on the account: None if its window had room, else seconds until it has."""
        if not self.per_hour:
            return None
        return await self._rates.hit(quota_key(account_id), self.per_hour, WINDOW_S)
