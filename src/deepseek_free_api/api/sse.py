"""Server-sent events framing for our responses."""

from __future__ import annotations

from typing import Any

import orjson

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
