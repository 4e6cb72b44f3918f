"""The queue of requests waiting for an account, and the timer that re-checks it when a pause ends."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Iterator

from .matching import Waiter


class WaiterQueue:
    """Waiters in arrival order (the pool's pass settles them, oldest first)."""

    def __init__(self, on_timer: Callable[[], None]) -> None:
        self._waiters: deque[Waiter] = deque()
        self._on_timer = on_timer
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = 0.0
        self._timer_loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        return len(self._waiters)

    def __iter__(self) -> Iterator[Waiter]:
        return iter(self._waiters)

    def push(self, waiter: Waiter, *, first: bool = False) -> None:
        """Queue ``waiter`` at the end, or at the head for a request that keeps its place."""
        if first:
            self._waiters.appendleft(waiter)
        else:
            self._waiters.append(waiter)

    def discard(self, waiter: Waiter) -> None:
        """Take ``waiter`` out if it is still queued."""
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)

    def prune(self) -> None:
        """Drop waiters that were served, failed or went away."""
        self._waiters = deque(w for w in self._waiters if not w.future.done())

    def wake_in(self, delay: float, due: float) -> None:
        """Call ``on_timer`` at pool time ``due`` (``delay`` seconds from now) unless due earlier already."""
        loop = asyncio.get_running_loop()
        timer = self._timer
        if timer is not None and not timer.cancelled():
            if self._timer_due <= due and self._timer_loop is loop:
                return
            timer.cancel()
        self._timer, self._timer_due, self._timer_loop = loop.call_later(delay, self._fire), due, loop

    def _fire(self) -> None:
        self._timer = None
        self._on_timer()
