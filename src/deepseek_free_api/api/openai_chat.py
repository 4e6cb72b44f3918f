"""``POST /v1/chat/completions``: thin glue from the wire to the chat service and back."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from deepseek_free_api.api.auth import presented_credential
from deepseek_free_api.api.errors import openai_error
from deepseek_free_api.api.openai_models import parse_chat_request
from deepseek_free_api.api.openai_render import ChunkRenderer, merge_chunks
from deepseek_free_api.api.request_body import read_json
from deepseek_free_api.api.sse import DONE, KEEPALIVE, EventStreamResponse, data_frame
from deepseek_free_api.api.state import core_of
from deepseek_free_api.chat.events import ChatEvent, KeepAlive
from deepseek_free_api.errors import ServiceError

log = logging.getLogger(__name__)
router = APIRouter()


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(request: Request) -> Response:
    """OpenAI Chat Completions, streaming or not (one code path)."""
    core = core_of(request)
    caller = core.caller(presented_credential(request))  # 401 before anything about the body
    body = await read_json(request)
    chat = parse_chat_request(body, default_reasoning=core.output.reasoning_output)
    renderer = ChunkRenderer(
        model=str(body.get("model")),
        reasoning_mode=chat.reasoning_mode,
        include_usage=chat.include_usage or not chat.stream,
        sources_text=core.output.search_sources_text,
    )
    events = core.service.stream(chat, caller)
    if not chat.stream:
        chunks = []
        try:
            async for event in events:
                chunks.extend(renderer.render(event))
        finally:
            await events.aclose()
        return JSONResponse(merge_chunks(chunks))
    try:
        first = await anext(events)  # errors before the stream starts get their real HTTP status
    except BaseException:
        await events.aclose()
        raise
    return EventStreamResponse(_frames(first, events, renderer))


async def _frames(
    first: ChatEvent, events: AsyncGenerator[ChatEvent, None], renderer: ChunkRenderer
) -> AsyncIterator[bytes]:
    try:
        event: ChatEvent | None = first
        while event is not None:
            if isinstance(event, KeepAlive):
                yield KEEPALIVE
            for chunk in renderer.render(event):
                yield data_frame(chunk)
            event = await anext(events, None)
        yield DONE
    except ServiceError as error:
        log.warning("stream failed after it started: %s: %s", type(error).__name__, error.message)
        yield data_frame(openai_error(error))
    except Exception:
        log.exception("stream failed after it started")
        yield data_frame(
            {"error": {"message": "internal error", "type": "server_error", "param": None, "code": None}}
        )
    finally:
        await events.aclose()
