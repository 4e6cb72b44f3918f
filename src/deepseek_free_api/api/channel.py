"""The channel between a turn's producer and the response writer (``api/edge.py``).

A deque and at most one waiting future: per batch no task, no lock, and no extra trip through the
event loop (an anyio memory stream yields once on every send and every receive). The writer's wait
for the next batch takes a timeout, which is the stream's keep-alive interval.

Bounded by batches and by characters: a client that stops reading stops the producer once the
waiting batches hold ``chars`` characters of text, reasoning or tool arguments, however large
each batch is (the producer then stops reading DeepSeek, which pauses the transfer: see
``upstream.exchange``). Counted by batches only, 64 batches of a fast answer held 4-5 MB.
"""

from __future__ import annotations

import asyncio

from deepseek_free_api.chat.events import ChatEvent, ReasoningDelta, TextDelta, ToolCall

# What an event counts for besides its text: a little, so that a flood of small events is bounded.
_EVENT_CHARS = 16


class Abandoned(Exception):
    """The consumer reads no more batches (it has answered, or the client is gone)."""


class Channel:
    """Event batches from the producer to the consumer: bounded, one sender, one receiver.

    At most one side waits at a time (the sender only while it is full, the receiver only while
    it is empty), so one future serves both.
    """

    def __init__(self, size: int, chars: int) -> None:
        # A list, not a deque: at most ``size`` (64) batches, and an empty deque is 624 bytes a stream.
        self._batches: list[tuple[list[ChatEvent], int]] = []
        self._size = size
        self._chars = chars
        self._held = 0  # characters in ``_batches``
        self._ended = False  # the producer sends nothing more
        self._abandoned = False  # the consumer reads nothing more
        self._waiter: asyncio.Future[None] | None = None

    async def send(self, batch: list[ChatEvent]) -> None:
        """Queue a batch, waiting while the channel is full; ``Abandoned`` once nobody reads."""
        # A batch larger than the budget still goes through an empty channel.
        while (
            self._batches
            and not self._abandoned
            and (len(self._batches) >= self._size or self._held >= self._chars)
        ):
            await self._wait()
        if self._abandoned:
            raise Abandoned
        weight = _weight(batch)
        self._batches.append((batch, weight))
        self._held += weight
        self._wake()

    def end(self) -> None:
        """The producer is done: the receiver gets ``[]`` after the last batch."""
        self._ended = True
        self._wake()

    def abandon(self) -> None:
        """The consumer is done: a waiting or later ``send`` raises ``Abandoned``."""
        self._abandoned = True
        self._batches.clear()
        self._held = 0
        self._wake()

    def receive_nowait(self) -> list[ChatEvent] | None:
        """The next batch, ``[]`` once ended, or None if nothing is ready."""
        if self._batches:
            batch, weight = self._batches.pop(0)
            self._held -= weight
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


def _weight(batch: list[ChatEvent]) -> int:
    """The characters ``batch`` counts for in the channel's budget."""
    total = 0
    for event in batch:
        kind = type(event)
        if kind is TextDelta or kind is ReasoningDelta:
            total += len(event.text)  # type: ignore[union-attr]
        elif kind is ToolCall:
            total += len(event.arguments)  # type: ignore[union-attr]
        total += _EVENT_CHARS
    return total


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
