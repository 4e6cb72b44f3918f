"""Server-sent events as upstream writes them, plus the byte-level faults.

One ``data:`` line per event, optional ``event:`` line, blank line after (PROTOCOL.md §5.1).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import orjson
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
MEDIA_TYPE = "text/event-stream; charset=utf-8"


def encode(data: Any, name: str | None = None) -> bytes:
    """One SSE event; ``data`` is JSON-encoded unless it is already a string (``[DONE]``)."""
    payload = data.encode() if isinstance(data, str) else orjson.dumps(data)
    head = b"event: " + name.encode() + b"\n" if name else b""
    return head + b"data: " + payload + b"\n\n"


def split_inside_character(chunk: bytes) -> tuple[bytes, bytes]:
    """Cut ``chunk`` inside its first multi-byte UTF-8 character, else in the middle."""
    for index, byte in enumerate(chunk):
        if byte >= 0xC0:  # lead byte of a multi-byte sequence
            return chunk[: index + 1], chunk[index + 1 :]
    middle = max(1, len(chunk) // 2)
    return chunk[:middle], chunk[middle:]


class DroppedConnection(Exception):
    """Raised inside a stream to make the server cut the connection (the drop fault)."""


class EventStream(StreamingResponse):
    """A streamed SSE response that waits ``latency`` before its headers and always runs ``on_end``.

    ``on_end(completed)`` runs once, whether the stream finished, failed, or the client went
    away (Starlette cancels the stream when it sees ``http.disconnect``).
    """

    def __init__(
        self,
        content: AsyncIterator[bytes],
        *,
        latency: float = 0.0,
        on_end: Callable[[bool], Awaitable[None] | None] | None = None,
    ) -> None:
        super().__init__(content, headers=SSE_HEADERS, media_type=MEDIA_TYPE)
        self._latency = latency
        self._on_end = on_end
        self._content = content

    async def stream_response(self, send: Send) -> None:
        if self._latency > 0:
            await asyncio.sleep(self._latency)
        await super().stream_response(send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        completed = False
        try:
            await super().__call__(scope, receive, send)
            completed = True
        finally:
            aclose = getattr(self._content, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except (RuntimeError, DroppedConnection):
                    pass  # already running or closing: its own finally does the work
            if self._on_end is not None:
                result = self._on_end(completed)
                if result is not None:
                    await result


async def _replay(events: Iterable[bytes]) -> AsyncIterator[bytes]:
    for event in events:
        yield event


def short_stream(events: Iterable[bytes]) -> EventStream:
    """A stream of a few pre-encoded events (errors and hints that end at once)."""
    return EventStream(_replay(list(events)))
