"""``/v1/responses``: create, retrieve, delete, list input items; the Responses dialect on the shared runner.

A stored response (``store``, on by default as in OpenAI) is written before its last event
leaves, so a client that reads the end of the stream can fetch it or continue it at once.
Stored responses belong to the credential that made them; another caller's id is "not found".
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from deepseek_free_api.api.auth import presented_credential
from deepseek_free_api.api.errors import openai_error_response
from deepseek_free_api.api.request_body import read_json
from deepseek_free_api.api.responses_items import input_items, page
from deepseek_free_api.api.responses_models import ResponsesRequest, parse_responses_request
from deepseek_free_api.api.responses_render import ResponseRenderer
from deepseek_free_api.api.state import core_of, turn_response
from deepseek_free_api.chat.events import ChatEvent, Completed
from deepseek_free_api.chat.request import ChatMessage
from deepseek_free_api.chat.responses_store import ResponseStore, StoredResponse
from deepseek_free_api.chat.turn import EventSink
from deepseek_free_api.errors import ConversationNotFoundError, ServiceError

router = APIRouter()

KEEPALIVE = b": keep-alive\n\n"


class ResponsesDialect:
    """Chat events as Responses SSE events, or one ``response`` object."""

    def __init__(self, renderer: ResponseRenderer) -> None:
        self._renderer = renderer

    def frames(self, events: list[ChatEvent]) -> bytes:
        render = self._renderer.render
        return b"".join(_frame(item) for event in events for item in render(event))

    def keepalive(self) -> bytes:
        return KEEPALIVE

    def end(self) -> bytes:
        return b""  # a Responses stream ends after its last event, without [DONE]

    def error_frame(self, error: ServiceError) -> bytes:
        return b"".join(_frame(event) for event in self._renderer.failed(error))

    def reply(self, events: list[ChatEvent]) -> Any:
        for event in events:
            self._renderer.render(event)
        return self._renderer.response()

    def error_response(self, error: ServiceError) -> JSONResponse:
        return openai_error_response(error)


@dataclass(frozen=True, slots=True)
class _Keeping:
    """What storing one response needs besides its events."""

    store: ResponseStore
    owner: str
    earlier: tuple[ChatMessage, ...]  # the conversation before this request's input
    parsed: ResponsesRequest
    input_items: bytes  # the request's input as items (api/responses_items.py)


class _StoringSink:
    """Passes events on; stores the response before the batch that completes it goes out."""

    def __init__(self, sink: EventSink, twin: ResponseRenderer, keeping: _Keeping) -> None:
        self._sink = sink
        self._twin = twin  # renders the same events as the dialect's renderer, to the same ids
        self._keeping = keeping

    async def emit(self, events: list[ChatEvent]) -> None:
        for event in events:
            self._twin.render(event)
        if events and isinstance(events[-1], Completed):
            keeping, twin = self._keeping, self._twin
            conversation = (*keeping.earlier, *keeping.parsed.input, twin.answer())
            body = orjson.dumps(twin.response())
            stored = StoredResponse(twin.response_id, keeping.owner, conversation, body, keeping.input_items)
            await keeping.store.put(stored)
        await self._sink.emit(events)

    def leased(self) -> None:
        self._sink.leased()


def store_of(request: Request) -> ResponseStore:
    """The response store the app built in its lifespan (``app.state.responses_store``)."""
    store: ResponseStore = request.app.state.responses_store
    return store


@router.post("/v1/responses", response_model=None)
async def create_response(request: Request) -> Response:
    """OpenAI Responses, streaming or not (one code path)."""
    core = core_of(request)
    caller = core.caller(presented_credential(request))  # 401 before anything about the body
    body = await read_json(request)
    parsed = parse_responses_request(
        body, gpt_model=request.app.state.gpt_model, hosted_search=request.app.state.hosted_web_search
    )
    store, owner = store_of(request), caller.principal.id
    previous: tuple[ChatMessage, ...] = ()
    if parsed.previous_response_id:
        stored = await store.get(parsed.previous_response_id, owner)
        if stored is None:
            raise ConversationNotFoundError(
                f"Previous response with id '{parsed.previous_response_id}' not found (responses are kept "
                "in this server's memory: a restart or a full store forgets them; store=false never keeps "
                "one). Send the whole conversation as input instead.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        previous = stored.conversation
    chat = parsed.chat(previous)
    renderer = partial(
        ResponseRenderer,
        parsed,
        f"resp_{uuid.uuid4().hex}",
        show_reasoning=not parsed.model.silent,
        sources_text=core.output.search_sources_text,
        created_at=int(time.time()),
    )
    keeping = (
        _Keeping(store, owner, previous, parsed, input_items(body.get("input"))) if parsed.store else None
    )

    async def run(sink: EventSink) -> None:
        if keeping is not None:
            sink = _StoringSink(sink, renderer(), keeping)
        await core.runner.run(chat, caller, sink)

    return turn_response(core, run, ResponsesDialect(renderer()), stream=chat.stream)


@router.get("/v1/responses/{response_id}", response_model=None)
async def get_response(response_id: str, request: Request) -> Response:
    """A stored response, as it was returned."""
    stored = await _stored(response_id, request)
    return Response(stored.body, media_type="application/json")


@router.delete("/v1/responses/{response_id}", response_model=None)
async def delete_response(response_id: str, request: Request) -> Response:
    """Forget a stored response (OpenAI's ``responses.delete``)."""
    store, owner = store_of(request), _owner(request)
    if not await store.delete(response_id, owner):
        raise _not_found(response_id)
    return JSONResponse({"id": response_id, "object": "response", "deleted": True})


@router.get("/v1/responses/{response_id}/input_items", response_model=None)
async def list_input_items(
    response_id: str,
    request: Request,
    after: str | None = None,
    before: str | None = None,
    limit: str | None = None,
    order: str | None = None,
) -> Response:
    """The input items of a stored response, newest first (``order=asc`` for oldest first)."""
    stored = await _stored(response_id, request)
    return JSONResponse(page(stored.input_items, after=after, before=before, limit=limit, order=order))


def _owner(request: Request) -> str:
    # 401 for a caller who may not use the server; else who owns what it stored
    return core_of(request).caller(presented_credential(request)).principal.id


async def _stored(response_id: str, request: Request) -> StoredResponse:
    owner = _owner(request)
    stored = await store_of(request).get(response_id, owner)
    if stored is None:
        raise _not_found(response_id)
    return stored


def _not_found(response_id: str) -> ConversationNotFoundError:
    return ConversationNotFoundError(
        f"No response found with id '{response_id}' (not stored, deleted, forgotten after a restart or "
        "evicted, or made with other credentials)",
        param="response_id",
        code="response_not_found",
    )


def _frame(event: dict[str, Any]) -> bytes:
    kind: str = event["type"]
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"
