"""``POST /v1/chat/completions``: the OpenAI Chat Completions dialect on the shared runner."""

from __future__ import annotations

from functools import partial
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from deepseek_free_api.api.auth import presented_credential
from deepseek_free_api.api.errors import openai_error, openai_error_response
from deepseek_free_api.api.openai_render import ChunkRenderer, merge_chunks
from deepseek_free_api.api.request_body import read_json
from deepseek_free_api.api.state import core_of, turn_response
from deepseek_free_api.chat.events import ChatEvent
from deepseek_free_api.errors import ServiceError

KEEPALIVE = b": keep-alive\n\n"
DONE = b"data: [DONE]\n\n"


class OpenAIChatDialect:
    """Chat events as ``chat.completion.chunk`` SSE frames or one ``chat.completion``."""

    def __init__(self, renderer: ChunkRenderer) -> None:
        self._renderer = renderer

    def frames(self, events: list[ChatEvent]) -> bytes:
        render = self._renderer.render
        return b"".join(
            b"data: " + orjson.dumps(chunk) + b"\n\n" for event in events for chunk in render(event)
        )

    def keepalive(self) -> bytes:
        return KEEPALIVE

    def end(self) -> bytes:
        return DONE

    def error_frame(self, error: ServiceError) -> bytes:
        return b"data: " + orjson.dumps(openai_error(error)) + b"\n\n"

    def reply(self, events: list[ChatEvent]) -> Any:
        render = self._renderer.render
        return merge_chunks([chunk for event in events for chunk in render(event)])

    def error_response(self, error: ServiceError) -> JSONResponse:
        return openai_error_response(error)


async def chat_completions(request: Request) -> Response:
    """OpenAI Chat Completions, streaming or not (one code path)."""
    from deepseek_free_api.api.openai_models import parse_chat_request  # pydantic: on first use

    core = core_of(request)
    caller = await core.caller(presented_credential(request))  # 401 before anything about the body
    body = await read_json(request)
    chat = parse_chat_request(body, default_reasoning=core.output.reasoning_output)
    renderer = ChunkRenderer(
        model=str(body.get("model")),
        reasoning_mode=chat.reasoning_mode,
        include_usage=chat.wants_usage,
        sources_text=core.output.search_sources_text,
    )
    run = core.gate.guard(caller, chat, str(body.get("model")), partial(core.runner.run, chat, caller))
    return turn_response(core, run, OpenAIChatDialect(renderer), stream=chat.stream)
