"""Our error tree -> HTTP status and the OpenAI error envelope (one place).

Every error answers ``{"error": {"message", "type", "param", "code"}}``. ``type`` is OpenAI's
coarse class (``invalid_request_error``, ``rate_limit_error``, ...); ``code`` is the specific,
stable reason a client can branch on (``model_not_found``, ``context_length_exceeded``, ...).
Both come from the one table below; a RequestError raised with an explicit ``code`` keeps it.
The README's "Errors" section lists the same codes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse

from deepseek_free_api.errors import (
    AccountBannedError,
    AccountBusyError,
    AuthenticationError,
    CapacityError,
    ClientVersionError,
    ContentFilteredError,
    ConversationNotFoundError,
    EdgeBlockedError,
    EmptyAnswerError,
    InputTooLongError,
    InvalidJsonOutputError,
    InvalidPowError,
    InvalidSessionError,
    InvalidTokenError,
    MissingParameterError,
    ModelDisabledError,
    ModelNotFoundError,
    MutedError,
    NoUsableAccountError,
    PayloadTooLargeError,
    PermissionDeniedError,
    PowError,
    RequestError,
    RequestTimeoutError,
    ServiceError,
    SessionFullError,
    ShuttingDownError,
    ThrottledError,
    UnsupportedContentError,
    UnsupportedParameterError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamServerError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
)

# Echoed client values (a model name, a path) are cut to this many characters: a caller must not
# get a megabyte of its own input back, nor fill a log with it.
ECHO_LIMIT = 64
# A last bound on any message, whatever it quotes.
MESSAGE_LIMIT = 2048

# (class, HTTP status, OpenAI type, code); most specific first, so the first match wins.
_TABLE: tuple[tuple[type[ServiceError], int, str, str], ...] = (
    (MissingParameterError, 400, "invalid_request_error", "missing_required_parameter"),
    (UnsupportedParameterError, 400, "invalid_request_error", "unsupported_parameter"),
    (UnsupportedContentError, 400, "invalid_request_error", "unsupported_content"),
    (ModelNotFoundError, 404, "invalid_request_error", "model_not_found"),
    (ConversationNotFoundError, 404, "invalid_request_error", "conversation_not_found"),
    (PayloadTooLargeError, 413, "invalid_request_error", "request_too_large"),
    # 413 as the issue of Step 9 asks: the prompt, not the body, is too large for DeepSeek.
    (InputTooLongError, 413, "invalid_request_error", "context_length_exceeded"),
    (ModelDisabledError, 400, "invalid_request_error", "invalid_value"),  # raised with code model_disabled
    (RequestError, 400, "invalid_request_error", "invalid_value"),
    (AuthenticationError, 401, "authentication_error", "invalid_api_key"),
    (InvalidTokenError, 401, "authentication_error", "invalid_deepseek_token"),
    (PermissionDeniedError, 403, "permission_error", "permission_denied"),
    (CapacityError, 429, "rate_limit_error", "rate_limit_exceeded"),
    (MutedError, 429, "rate_limit_error", "account_muted"),
    (ThrottledError, 429, "rate_limit_error", "upstream_rate_limited"),
    (AccountBusyError, 429, "rate_limit_error", "account_busy"),
    (NoUsableAccountError, 503, "upstream_error", "no_usable_account"),
    (ShuttingDownError, 503, "server_error", "server_shutting_down"),
    (RequestTimeoutError, 504, "timeout_error", "request_timeout"),
    (PowError, 502, "upstream_error", "proof_of_work_failed"),
    (EdgeBlockedError, 503, "upstream_error", "upstream_blocked"),
    (UpstreamTimeoutError, 504, "upstream_error", "upstream_timeout"),
    (InvalidPowError, 502, "upstream_error", "proof_of_work_rejected"),
    # The caller's conversation_id cannot go on: a 400 it can act on (start a new conversation).
    (SessionFullError, 400, "invalid_request_error", "context_length_exceeded"),
    (InvalidSessionError, 502, "upstream_error", "upstream_session_invalid"),
    (ContentFilteredError, 502, "upstream_error", "content_filter"),
    (ClientVersionError, 502, "upstream_error", "upstream_client_version"),
    (AccountBannedError, 502, "upstream_error", "account_banned"),
    (UpstreamServerError, 502, "upstream_error", "upstream_server_error"),
    (UpstreamUnreachableError, 502, "upstream_error", "upstream_server_error"),
    (EmptyAnswerError, 502, "upstream_error", "empty_answer"),
    (InvalidJsonOutputError, 502, "upstream_error", "invalid_json_output"),
    (UpstreamProtocolError, 502, "upstream_error", "upstream_protocol_error"),
    (UpstreamError, 502, "upstream_error", "upstream_error"),
)
_OTHER = (500, "server_error", "server_error")

# Framework answers (unknown path, wrong method): status -> (type, code).
_HTTP: dict[int, tuple[str, str]] = {
    404: ("not_found_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
}


def _row(error: ServiceError) -> tuple[int, str, str]:
    for cls, status, kind, code in _TABLE:
        if isinstance(error, cls):
            return status, kind, code
    return _OTHER


def status_of(error: ServiceError) -> tuple[int, str]:
    """HTTP status and OpenAI error ``type`` for an error."""
    status, kind, _ = _row(error)
    return status, kind


def error_code(error: ServiceError) -> str:
    """The specific machine-readable code, e.g. ``model_not_found`` or ``upstream_timeout``."""
    code = getattr(error, "code", None)  # set by RequestError's raiser, or by the class (model_not_allowed)
    if isinstance(code, str) and code:
        return code
    return _row(error)[2]


def shorten(value: str, limit: int = ECHO_LIMIT) -> str:
    """``value`` for quoting back to a client: at most ``limit`` characters, then ``…``."""
    return value if len(value) <= limit else value[:limit] + "…"


def retry_after(error: ServiceError) -> int | None:
    """Seconds for a ``Retry-After`` header, if the error suggests one."""
    seconds = error.retry_after
    if seconds is None and isinstance(error, MutedError) and error.mute_until:
        seconds = error.mute_until - time.time()
    if seconds is None and isinstance(error, CapacityError | ThrottledError | AccountBusyError):
        seconds = 5
    return max(1, math.ceil(seconds)) if seconds is not None else None


def not_worth_retrying(error: ServiceError) -> bool:
    """Whether the answer tells SDKs not to retry (``x-should-retry: false``) although it is a 5xx.

    A structured answer that failed has already had its repair round: the OpenAI and Anthropic SDKs
    retry a 502 twice by default, so one ``llm --schema`` command cost six generations.
    """
    return isinstance(error, InvalidJsonOutputError)


def envelope(message: str, kind: str, code: str, param: str | None = None) -> dict[str, Any]:
    """The OpenAI error body ``{"error": {message, type, param, code}}``."""
    text = shorten(message, MESSAGE_LIMIT)
    return {"error": {"message": text, "type": kind, "param": param and shorten(param), "code": code}}


def openai_error(error: ServiceError) -> dict[str, Any]:
    """The OpenAI error body for one of our errors."""
    _, kind = status_of(error)
    param = error.param if isinstance(error, RequestError) else None
    return envelope(error.message, kind, error_code(error), param)


def openai_error_response(error: ServiceError) -> JSONResponse:
    """The whole HTTP answer for an error: status, ``Retry-After`` where it helps, OpenAI body."""
    status, _ = status_of(error)
    headers = {}
    seconds = retry_after(error)
    if seconds is not None and status in (429, 503):
        headers["Retry-After"] = str(seconds)
    if not_worth_retrying(error):
        headers["x-should-retry"] = "false"
    return JSONResponse(openai_error(error), status_code=status, headers=headers)


def http_error_response(
    status: int, method: str, path: str, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A framework error (unknown path, wrong method) in the same envelope; the path is shortened."""
    kind, code = _HTTP.get(status, ("invalid_request_error", "invalid_request"))
    message = f"{shorten(method, 16)} {shorten(path)}: {detail}"
    return JSONResponse(envelope(message, kind, code), status_code=status, headers=headers)
