"""Helpers for the account pool tests: a fake clock and a way to let queued tasks run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

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
