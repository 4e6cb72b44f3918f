"""Chat turns start their work one per turn of the event loop.

A burst of requests arrives in one turn of the loop: their heads are parsed together, and each
request's turn is a task started in the same turn. Each of those tasks then runs its work up to
the call to DeepSeek (body, account, lease, session, proof of work, the call) in the next turn,
one after the other, and the loop reads its sockets only once the last one is done: at 50
concurrent ~40 ms in which the answers to the first calls had arrived and waited unread
(``bench/timeline.py --concurrency 50``). Started one per turn of the loop, each turn's work up to
its call is followed by a look at the sockets, so answers are read and passed on as they arrive.

A turn that finds no other turn started in this turn of the loop starts at once: one request at a
time is never delayed. Nothing is held: a waiter that leaves (cancelled, timed out) is skipped.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Admission:
    """``await admit()`` before a turn's work: at once, or in a later turn of the loop, in order."""

    __slots__ = ("_waiting", "_ticking")

    def __init__(self) -> None:
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._ticking = False  # a turn started in this turn of the loop: ``_tick`` is due in the next

    @property
    def waiting(self) -> int:
        """How many turns wait to start."""
        return len(self._waiting)

    async def admit(self) -> None:
        """Return when this turn may start its work."""
        loop = asyncio.get_running_loop()
        if not self._ticking:
            self._ticking = True
            loop.call_soon(self._tick)
            return
        future = loop.create_future()
        self._waiting.append(future)
        await future  # cancelled with the task: the future is then done and ``_tick`` passes it by

    def _tick(self) -> None:
        """A new turn of the loop (its sockets were read): start the next waiter, if any."""
        waiting = self._waiting
        while waiting:
            future = waiting.popleft()
            if not future.done():
                future.set_result(None)  # it runs in the next turn, as does the next ``_tick``
                asyncio.get_running_loop().call_soon(self._tick)
                return
        self._ticking = False
