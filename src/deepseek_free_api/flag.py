"""``Flag``: an ``asyncio.Event`` that holds no deque until a task waits on it.

asyncio's Event makes a ``collections.deque`` for its waiters when it is made: 624 bytes, where
the events a live stream holds (uvicorn's per-request and per-connection ones, an upstream
transfer's end) are waited on by one task at most, most of them never. At 1,000 streams that was
~2 MB of empty deques. ``Flag`` keeps its waiters' futures in a list made on the first wait.
"""

from __future__ import annotations

import asyncio
from typing import Literal


class Flag(asyncio.Event):
    """``asyncio.Event``'s behaviour (set, clear, is_set, wait), without the deque."""

    def __init__(self, value: bool = False) -> None:  # asyncio.Event.__init__ would make the deque
        self._value = value
        self._waiting: list[asyncio.Future[None]] | None = None

    def __repr__(self) -> str:
        waiting = f", waiters:{len(self._waiting)}" if self._waiting else ""
        return f"<{type(self).__name__} [{'set' if self._value else 'unset'}{waiting}]>"

    def is_set(self) -> bool:
        """Whether the flag is set."""
        return self._value

    def set(self) -> None:
        """Set the flag and wake every task waiting for it."""
        if not self._value:
            self._value = True
            for future in self._waiting or ():
                if not future.done():
                    future.set_result(None)

    def clear(self) -> None:
        """Unset the flag: ``wait`` waits again."""
        self._value = False

    async def wait(self) -> Literal[True]:
        """Return True once the flag is set (at once if it is)."""
        if self._value:
            return True
        future = asyncio.get_running_loop().create_future()
        waiting = self._waiting
        if waiting is None:
            waiting = self._waiting = []
        waiting.append(future)
        try:
            await future
            return True
        finally:
            waiting.remove(future)
