"""What DeepSeek answered a JSON call: ``biz_data`` or the classified error, and raw answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from deepseek_free_api.errors import ServiceError, UpstreamError, UpstreamProtocolError
from deepseek_free_api.upstream.classifier import classify_envelope, classify_http

# The most of one raw answer kept in memory (a completion's whole event stream, for the canary).
RAW_LIMIT = 1024 * 1024


@dataclass(frozen=True, slots=True)
class RawAnswer:
    """A non-streamed answer as it came: status, headers and the body (at most RAW_LIMIT bytes)."""

    status: int
    headers: Mapping[str, str]
    body: bytes = field(repr=False)


def envelope_data(
    status: int, headers: Mapping[str, str], content: bytes, path: str, *, login: bool = False
) -> Any:
    """``biz_data`` of a JSON answer to ``path``, or the classified error it stands for, raised."""
    content_type = headers.get("content-type", "")
    error: ServiceError | None = classify_http(status, headers, content, content_type)
    if error is not None:
        raise error
    try:
        envelope = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise UpstreamProtocolError(f"DeepSeek answered {path} with invalid JSON") from exc
    if not isinstance(envelope, Mapping):
        raise UpstreamProtocolError(f"DeepSeek answered {path} with an unexpected JSON shape")
    error = classify_envelope(envelope, login=login)
    if error is not None:
        raise error
    data = envelope.get("data")
    if not isinstance(data, Mapping):
        raise UpstreamError(f"DeepSeek answered {path} without data")
    return data.get("biz_data")


def dig(data: Any, *keys: str) -> Any:
    """``data[k1][k2]...`` through mappings, or None where a level is missing."""
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def device_of(body: Mapping[str, Any] | None) -> str | None:
    """The device id a login sends (the key of its cookies and connections before it has a token)."""
    device = body.get("device_id") if body is not None else None
    return device if isinstance(device, str) and device else None
