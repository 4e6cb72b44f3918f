"""Server-sent events framing for our responses."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import anyio
import orjson
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

# Flush every event at once, never let a proxy buffer, never cache (CLIENTS.md "Keep-alive and framing").
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}
KEEPALIVE = b": keep-alive\n\n"
DONE = b"data: [DONE]\n\n"


def data_frame(payload: Any) -> bytes:
    """``data: <json>`` plus the blank line."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def event_frame(event: str, payload: Any) -> bytes:
    """``event: <name>`` + ``data: <json>`` (Anthropic style)."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class EventStreamResponse(StreamingResponse):
    """A streaming response that notices a client going away even while upstream is silent.

    Starlette only watches for ``http.disconnect`` on ASGI spec < 2.4; uvicorn says 2.4 and then
    silently drops writes to a closed socket, so a plain StreamingResponse would let DeepSeek
    generate to the end on a busy account. Here a watcher cancels the body iterator at once, so
    the chat service's ``finally`` runs ``chat/stop_stream`` and releases the account.
    """

    def __init__(self, content: AsyncIterator[bytes], headers: Mapping[str, str] | None = None) -> None:
        merged = dict(SSE_HEADERS)
        merged.update(headers or {})
        super().__init__(content, media_type="text/event-stream", headers=merged)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        iterator = self.body_iterator
        try:
            async with anyio.create_task_group() as group:

                async def stream() -> None:
                    with contextlib.suppress(OSError):
                        await self.stream_response(send)
                    group.cancel_scope.cancel()

                async def watch() -> None:
                    await self.listen_for_disconnect(receive)
                    group.cancel_scope.cancel()

                group.start_soon(stream)
                group.start_soon(watch)
        finally:
            closer = getattr(iterator, "aclose", None)
            if closer is not None:
                with anyio.CancelScope(shield=True):
                    await closer()
