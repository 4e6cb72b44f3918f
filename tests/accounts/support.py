"""Helpers for the account pool tests: a fake clock and a way to let queued tasks run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from deepseek_free_api.accounts import Account, AccountPool

WALL_START = 1_800_000_000.0


class FakeClock:
    """A monotonic clock and a matching wall clock that move only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        return WALL_START + self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def settle(condition: Callable[[], bool] = lambda: False, *, rounds: int = 50) -> None:
    """Yield to the event loop until ``condition`` holds (or ``rounds`` turns have passed)."""
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0)


def token_pool(clock: FakeClock, n: int = 1, **options: Any) -> AccountPool:
    """A pool of ``n`` token accounts ``a0``, ``a1``… on the fake clock."""
    accounts = [Account.from_token(f"token-{i}", name=f"a{i}") for i in range(n)]
    return AccountPool(
        accounts, max_waiters=10, wait_timeout_s=30, clock=clock, wall_clock=clock.wall, **options
    )
