"""Our error tree -> HTTP status and the OpenAI error envelope (one place)."""

from __future__ import annotations

import math
import time
from typing import Any

from starlette.responses import JSONResponse

from deepseek_free_api.errors import (
    AccountBusyError,
    AuthenticationError,
    CapacityError,
    ConversationNotFoundError,
    EdgeBlockedError,
    InputTooLongError,
    InvalidTokenError,
    ModelNotFoundError,
    MutedError,
    NoUsableAccountError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RequestError,
    RequestTimeoutError,
    ServiceError,
    ShuttingDownError,
    ThrottledError,
    UpstreamTimeoutError,
)

# Most specific first.
_STATUS: tuple[tuple[type[ServiceError], int, str], ...] = (
    (ModelNotFoundError, 404, "invalid_request_error"),
    (ConversationNotFoundError, 404, "invalid_request_error"),
    (PayloadTooLargeError, 413, "invalid_request_error"),
    (InputTooLongError, 400, "invalid_request_error"),
    (RequestError, 400, "invalid_request_error"),
    (AuthenticationError, 401, "authentication_error"),
    (InvalidTokenError, 401, "authentication_error"),
    (PermissionDeniedError, 403, "permission_error"),
    (CapacityError, 429, "rate_limit_error"),
    (MutedError, 429, "rate_limit_error"),
    (ThrottledError, 429, "rate_limit_error"),
    (AccountBusyError, 429, "rate_limit_error"),
    (NoUsableAccountError, 503, "upstream_error"),
    (ShuttingDownError, 503, "server_error"),
    (RequestTimeoutError, 504, "timeout_error"),
    (EdgeBlockedError, 503, "upstream_error"),
    (UpstreamTimeoutError, 504, "upstream_error"),
)


def status_of(error: ServiceError) -> tuple[int, str]:
    """HTTP status and OpenAI error ``type`` for an error."""
    for cls, status, kind in _STATUS:
        if isinstance(error, cls):
            return status, kind
    return 502, "upstream_error"


def error_code(error: ServiceError) -> str:
    """A stable machine-readable code, e.g. ``model_not_found`` or ``muted``."""
    if isinstance(error, RequestError) and error.code:
        return error.code
    if isinstance(error, ConversationNotFoundError):
        return "conversation_not_found"
    if isinstance(error, InputTooLongError):
        return "context_length_exceeded"
    name = type(error).__name__.removesuffix("Error")
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def retry_after(error: ServiceError) -> int | None:
    """Seconds for a ``Retry-After`` header, if the error suggests one."""
    seconds = error.retry_after
    if seconds is None and isinstance(error, MutedError) and error.mute_until:
        seconds = error.mute_until - time.time()
    if seconds is None and isinstance(error, CapacityError | ThrottledError | AccountBusyError):
        seconds = 5
    return max(1, math.ceil(seconds)) if seconds is not None else None


def openai_error(error: ServiceError) -> dict[str, Any]:
    """The OpenAI error body ``{"error": {message, type, param, code}}``."""
    _, kind = status_of(error)
    param = error.param if isinstance(error, RequestError) else None
    return {"error": {"message": error.message, "type": kind, "param": param, "code": error_code(error)}}


def openai_error_response(error: ServiceError) -> JSONResponse:
    """The whole HTTP answer for an error: status, ``Retry-After`` where it helps, OpenAI body."""
    status, _ = status_of(error)
    headers = {}
    seconds = retry_after(error)
    if seconds is not None and status in (429, 503):
        headers["Retry-After"] = str(seconds)
    return JSONResponse(openai_error(error), status_code=status, headers=headers)
