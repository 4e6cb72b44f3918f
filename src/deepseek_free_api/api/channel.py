"""The channel between a turn's producer and the response writer (``api/edge.py``).

A deque and at most one waiting future: per batch no task, no lock, and no extra trip through the
event loop (an anyio memory stream yields once on every send and every receive). The writer's wait
for the next batch takes a timeout, which is the stream's keep-alive interval.
"""

from __future__ import annotations

import asyncio
from collections import deque

from deepseek_free_api.chat.events import ChatEvent


class Abandoned(Exception):
    """The consumer reads no more batches (it has answered, or the client is gone)."""


class Channel:
    """Event batches from the producer to the consumer: bounded, one sender, one receiver.

    At most one side waits at a time (the sender only while it is full, the receiver only while
    it is empty), so one future serves both.
    """

    def __init__(self, size: int) -> None:
        self._batches: deque[list[ChatEvent]] = deque()
        self._size = size
        self._ended = False  # the producer sends nothing more
        self._abandoned = False  # the consumer reads nothing more
        self._waiter: asyncio.Future[None] | None = None

    async def send(self, batch: list[ChatEvent]) -> None:
        """Queue a batch, waiting while the channel is full; ``Abandoned`` once nobody reads."""
        while len(self._batches) >= self._size and not self._abandoned:
            await self._wait()
        if self._abandoned:
            raise Abandoned
        self._batches.append(batch)
        self._wake()

    def end(self) -> None:
        """The producer is done: the receiver gets ``[]`` after the last batch."""
        self._ended = True
        self._wake()

    def abandon(self) -> None:
        """The consumer is done: a waiting or later ``send`` raises ``Abandoned``."""
        self._abandoned = True
        self._batches.clear()
        self._wake()

    def receive_nowait(self) -> list[ChatEvent] | None:
        """The next batch, ``[]`` once ended, or None if nothing is ready."""
        if self._batches:
            batch = self._batches.popleft()
            self._wake()  # a full channel has room again
            return batch
        return [] if self._ended else None

    async def receive(self, timeout: float | None = None) -> list[ChatEvent] | None:
        """The next batch, ``[]`` once ended, or None if nothing came within ``timeout`` seconds."""
        batch = self.receive_nowait()
        if batch is None:
            await self._wait(timeout)
            batch = self.receive_nowait()
        return batch

    async def _wait(self, timeout: float | None = None) -> None:
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timer = None if timeout is None else loop.call_later(timeout, _settle, waiter)
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            if self._waiter is waiter:
                self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None:
            _settle(self._waiter)


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
