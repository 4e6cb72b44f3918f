"""The queue of requests waiting for an account, and the timer that re-checks it when a pause ends."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Iterator

from ..errors import ServiceError
from .matching import Slot, Waiter

Offer = Callable[[Waiter], Slot | ServiceError | None]


class WaiterQueue:
    """Waiters in arrival order; ``serve`` settles each one that an offer can settle now."""

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

    def serve(self, offer: Offer) -> None:
        """Hand each waiter, oldest first, the account or the error ``offer`` has for it now."""
        remaining: deque[Waiter] = deque()
        for waiter in self._waiters:
            if waiter.future.done():
                continue
            outcome = offer(waiter)
            if isinstance(outcome, Slot):
                waiter.future.set_result(outcome)
            elif outcome is not None:
                waiter.future.set_exception(outcome)
            else:
                remaining.append(waiter)
        self._waiters = remaining

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
