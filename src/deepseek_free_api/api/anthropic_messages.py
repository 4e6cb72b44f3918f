"""``POST /v1/messages`` and ``/v1/messages/count_tokens``: Anthropic Messages on the shared runner.

Errors answer in Anthropic's envelope ``{"type": "error", "error": {"type", "message"}}`` with
its statuses, before the stream and (as ``event: error``) after it; the routes catch our errors
themselves so the app-wide handler (OpenAI's envelope) never answers for them.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import anyio.to_thread
import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from deepseek_free_api.api.anthropic_render import MessageRenderer, StreamEvent, assemble
from deepseek_free_api.api.auth import presented_credential
from deepseek_free_api.api.errors import not_worth_retrying, retry_after
from deepseek_free_api.api.model_names import ClaudeModels
from deepseek_free_api.api.ops import note_error
from deepseek_free_api.api.request_body import read_json
from deepseek_free_api.api.state import core_of, turn_response
from deepseek_free_api.chat.events import ChatEvent
from deepseek_free_api.chat.prompt import fold_messages
from deepseek_free_api.chat.reader import prompt_options
from deepseek_free_api.chat.request import ChatRequest
from deepseek_free_api.chat.tokens import LazyTokenCounter
from deepseek_free_api.chat.turn import COUNT_INLINE_MAX
from deepseek_free_api.errors import (
    AccountBusyError,
    AuthenticationError,
    CapacityError,
    ConversationNotFoundError,
    EdgeBlockedError,
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

PING = b'event: ping\ndata: {"type":"ping"}\n\n'
DEFAULT_MODELS = ClaudeModels()
# The tokenizer itself is loaded once per process (TokenCounter caches it per file); this only
# holds the lazy handle for the edge's own counts (message_start's input_tokens, count_tokens).
_TOKENS = LazyTokenCounter()

# Most specific first. 429 is "wait and retry here" (no account free within the wait budget, or
# DeepSeek's pacing); 529 is "this server cannot serve now" (no usable account, shutting down,
# blocked at DeepSeek's edge), which Anthropic's clients retry with a longer backoff.
_STATUS: tuple[tuple[type[ServiceError], int, str], ...] = (
    (ModelNotFoundError, 404, "not_found_error"),
    (ConversationNotFoundError, 404, "not_found_error"),
    (PayloadTooLargeError, 413, "request_too_large"),
    (RequestError, 400, "invalid_request_error"),
    (AuthenticationError, 401, "authentication_error"),
    (InvalidTokenError, 401, "authentication_error"),
    (PermissionDeniedError, 403, "permission_error"),
    (CapacityError, 429, "rate_limit_error"),
    (MutedError, 429, "rate_limit_error"),
    (ThrottledError, 429, "rate_limit_error"),
    (AccountBusyError, 429, "rate_limit_error"),
    (NoUsableAccountError, 529, "overloaded_error"),
    (ShuttingDownError, 529, "overloaded_error"),
    (EdgeBlockedError, 529, "overloaded_error"),
    (RequestTimeoutError, 504, "timeout_error"),
    (UpstreamTimeoutError, 504, "timeout_error"),
)


def anthropic_status(error: ServiceError) -> tuple[int, str]:
    """HTTP status and Anthropic error ``type`` for an error (502 ``api_error`` for upstream ones)."""
    for cls, status, kind in _STATUS:
        if isinstance(error, cls):
            return status, kind
    if type(error) is ServiceError:  # our own failure, not DeepSeek's
        return 500, "api_error"
    return 502, "api_error"


def anthropic_error(error: ServiceError) -> dict[str, Any]:
    """Anthropic's error body."""
    _, kind = anthropic_status(error)
    return {"type": "error", "error": {"type": kind, "message": error.message}}


def anthropic_error_response(error: ServiceError) -> JSONResponse:
    """The whole HTTP answer for an error: status, ``retry-after`` where it helps, Anthropic body."""
    status, _ = anthropic_status(error)
    note_error(error)
    headers = {}
    seconds = retry_after(error)
    if seconds is not None and status in (429, 529):
        headers["retry-after"] = str(seconds)
    if not_worth_retrying(error):
        headers["x-should-retry"] = "false"
    return JSONResponse(anthropic_error(error), status_code=status, headers=headers)


def _sse(event: StreamEvent) -> bytes:
    kind: str = event["type"]
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


class AnthropicDialect:
    """Chat events as Anthropic stream events or one ``message``."""

    def __init__(self, renderer: MessageRenderer) -> None:
        self._renderer = renderer

    def frames(self, events: list[ChatEvent]) -> bytes:
        render = self._renderer.render
        return b"".join(_sse(item) for event in events for item in render(event))

    def keepalive(self) -> bytes:
        return PING

    def end(self) -> bytes:
        return b""  # message_stop is the last event; nothing follows it

    def error_frame(self, error: ServiceError) -> bytes:
        return b"event: error\ndata: " + orjson.dumps(anthropic_error(error)) + b"\n\n"

    def reply(self, events: list[ChatEvent]) -> Any:
        render = self._renderer.render
        return assemble([item for event in events for item in render(event)])

    def error_response(self, error: ServiceError) -> JSONResponse:
        return anthropic_error_response(error)


def _models(request: Request) -> ClaudeModels:
    """The Claude name map the app was built with (``app.state.claude_models``), else the defaults."""
    models = getattr(request.app.state, "claude_models", None)
    return models if isinstance(models, ClaudeModels) else DEFAULT_MODELS


async def count_prompt_tokens(chat: ChatRequest) -> int:
    """Tokens of the prompt the request sends (tool and format instructions included); loading and
    large counts run off the event loop."""
    prompt = fold_messages(chat.messages, **prompt_options(chat))
    if not _TOKENS.loaded or len(prompt) > COUNT_INLINE_MAX:
        return await anyio.to_thread.run_sync(_TOKENS.count_prompt, prompt)
    return _TOKENS.count_prompt(prompt)


async def messages(request: Request) -> Response:
    """Anthropic Messages, streaming or not (one code path); ``?beta=true`` is the same route."""
    try:
        return await _messages(request)
    except ServiceError as error:
        return anthropic_error_response(error)


async def _messages(request: Request) -> Response:
    from deepseek_free_api.api.anthropic_models import parse_messages_request  # pydantic: on first use

    core = core_of(request)
    caller = await core.caller(presented_credential(request))  # 401 before anything about the body
    body = await read_json(request)
    chat = parse_messages_request(
        body, models=_models(request), default_reasoning=core.output.reasoning_output
    )
    input_tokens = await count_prompt_tokens(chat) if chat.stream else 0
    renderer = MessageRenderer(
        model=str(body.get("model")),
        reasoning_mode=chat.reasoning_mode,
        input_tokens=input_tokens,
        sources_text=core.output.search_sources_text,
    )
    run = core.gate.guard(caller, chat, str(body.get("model")), partial(core.runner.run, chat, caller))
    return turn_response(core, run, AnthropicDialect(renderer), stream=chat.stream)


async def count_tokens(request: Request) -> Response:
    """``{"input_tokens": N}`` for the prompt a Messages request would send, with DeepSeek's tokenizer."""
    from deepseek_free_api.api.anthropic_models import parse_count_request  # pydantic: on first use

    try:
        core = core_of(request)
        await core.caller(presented_credential(request))
        body = await read_json(request)
        chat = parse_count_request(body, models=_models(request))
        return JSONResponse({"input_tokens": await count_prompt_tokens(chat)})
    except ServiceError as error:
        return anthropic_error_response(error)
