"""``/v1/responses``: create, retrieve, delete, list input items; the Responses dialect on the shared runner.

A stored response (``store``, on by default as in OpenAI) is written to ``stores.responses``
before its last event leaves, so a client that reads the end of the stream can fetch it or
continue it at once, on any process sharing the store and after a restart. Stored responses
belong to the credential that made them; another caller's id is "not found". What is kept, and
how images are referenced again rather than re-uploaded: ``chat.responses_store``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from deepseek_free_api.api.auth import presented_credential
from deepseek_free_api.api.errors import openai_error_response
from deepseek_free_api.api.request_body import read_json
from deepseek_free_api.api.responses_items import input_items, page
from deepseek_free_api.api.responses_render import ResponseRenderer
from deepseek_free_api.api.state import core_of, turn_response
from deepseek_free_api.chat.events import ChatEvent, Completed, Started
from deepseek_free_api.chat.request import ChatMessage, ChatRequest
from deepseek_free_api.chat.responses_store import (
    KeptResponse,
    conversation_of,
    from_record,
    session_context,
    to_record,
    with_file_ids,
)
from deepseek_free_api.chat.turn import EventSink
from deepseek_free_api.errors import ConversationNotFoundError, ServiceError
from deepseek_free_api.stores.protocols import ResponseStore

if TYPE_CHECKING:
    from deepseek_free_api.api.responses_models import ResponsesRequest

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


class _Chain:
    """The stored response a follow-up continues; the whole conversation read back only when needed."""

    def __init__(self, store: ResponseStore, stored: KeptResponse) -> None:
        self.stored = stored
        self._store = store
        self.earlier: tuple[ChatMessage, ...] | None = None  # the whole conversation, once read

    async def read(self) -> tuple[ChatMessage, ...]:
        """The conversation up to and including the stored answer (404 if part of it is gone)."""
        if self.earlier is None:
            links = self._store.limits.max_count
            self.earlier = await conversation_of(
                self._store, self.stored, "previous_response_id", max_links=links
            )
        return self.earlier


@dataclass(frozen=True, slots=True)
class _Keeping:
    """What storing one response needs besides its events."""

    store: ResponseStore
    owner: str
    chain: _Chain | None  # the stored response this one follows
    context: str  # the session's model type and instructions (``session_context``)
    parsed: ResponsesRequest
    input_items: bytes  # the request's input as items (api/responses_items.py)


class _StoringSink:
    """Passes events on; stores the response before the batch that completes it goes out."""

    def __init__(self, sink: EventSink, twin: ResponseRenderer, keeping: _Keeping) -> None:
        self._sink = sink
        self._twin = twin  # renders the same events as the dialect's renderer, to the same ids
        self._keeping = keeping
        self._started: Started | None = None  # the account and the file ids of the turn

    async def emit(self, events: list[ChatEvent]) -> None:
        for event in events:
            if isinstance(event, Started) and self._started is None:
                self._started = event
            self._twin.render(event)
        if events and isinstance(events[-1], Completed):
            await self._keeping.store.put(to_record(self._kept(), time.time()))
        await self._sink.emit(events)

    def _kept(self) -> KeptResponse:
        keeping, twin, started, chain = self._keeping, self._twin, self._started, self._keeping.chain
        asked = keeping.parsed.input
        # A turn in a new session names the files of the whole conversation it replayed, one that went
        # on in its session only its new ones (``with_file_ids``): this response's are the last.
        earlier = () if chain is None or chain.earlier is None else chain.earlier
        files = started.file_ids if started is not None else ()
        added = with_file_ids((*earlier, *asked), files)[len(earlier) :]
        earlier_files = chain is not None and chain.stored.files_account is not None
        with_files = earlier_files or any(m.attachments for m in asked)
        account = started.account_id if started is not None and with_files else None
        native = started.conversation_id if started is not None else None
        return KeptResponse(
            twin.response_id,
            keeping.owner,
            (*added, twin.answer()),
            orjson.dumps(twin.response()),
            keeping.input_items,
            account,
            native,
            keeping.context,
            None if chain is None else chain.stored.id,
        )

    def leased(self) -> None:
        self._sink.leased()


def store_of(request: Request) -> ResponseStore:
    """The response store of the app's stores (``app.state.stores``, opened in its lifespan)."""
    store: ResponseStore = request.app.state.stores.responses
    return store


async def _kept(store: ResponseStore, response_id: str, owner: str) -> KeptResponse | None:
    record = await store.get(response_id, owner)
    return None if record is None else from_record(record)


async def _chain(store: ResponseStore, response_id: str, owner: str) -> _Chain:
    stored = await _kept(store, response_id, owner)
    if stored is None:
        raise ConversationNotFoundError(
            f"Previous response with id '{response_id}' not found (responses are kept within the server's "
            "store bounds and store.responses_ttl_s; store=false never keeps one). Send the whole "
            "conversation as input instead.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    return _Chain(store, stored)


async def _follow_up(parsed: ResponsesRequest, chain: _Chain, context: str) -> ChatRequest:
    """The request going on after ``chain``: natively with only what the stored response holds itself
    when its session assumes the same context and nothing in the input rewrites the end of the
    conversation (the rest is read back if it is replayed after all); else the whole conversation."""
    stored = chain.stored
    files_account = stored.files_account

    async def whole() -> ChatRequest:
        return parsed.chat(await chain.read(), files_account=files_account)

    if stored.native is None or stored.context != context or any(m.role == "assistant" for m in parsed.input):
        return await whole()
    natively = parsed.chat(stored.messages, files_account=files_account)
    return replace(natively, resume=stored.native, history=whole)


async def create_response(request: Request) -> Response:
    """OpenAI Responses, streaming or not (one code path)."""
    from deepseek_free_api.api.responses_models import parse_responses_request  # pydantic: on first use

    core = core_of(request)
    caller = await core.caller(presented_credential(request))  # 401 before anything about the body
    body = await read_json(request)
    parsed = parse_responses_request(
        body, gpt_model=request.app.state.gpt_model, hosted_search=request.app.state.hosted_web_search
    )
    store, owner = store_of(request), caller.principal.id
    context = session_context(parsed.model.model_type, parsed.instructions)
    chain = None
    if parsed.previous_response_id:
        chain = await _chain(store, parsed.previous_response_id, owner)
        chat = await _follow_up(parsed, chain, context)
    else:
        chat = parsed.chat()
    renderer = partial(
        ResponseRenderer,
        parsed,
        f"resp_{uuid.uuid4().hex}",
        show_reasoning=not parsed.model.silent,
        sources_text=core.output.search_sources_text,
        created_at=int(time.time()),
    )
    keeping = (
        _Keeping(store, owner, chain, context, parsed, input_items(body.get("input")))
        if parsed.store
        else None
    )

    async def run(sink: EventSink) -> None:
        if keeping is not None:
            sink = _StoringSink(sink, renderer(), keeping)
        await core.runner.run(chat, caller, sink)

    guarded = core.gate.guard(caller, chat, str(body.get("model")), run)
    return turn_response(core, guarded, ResponsesDialect(renderer()), stream=chat.stream)


async def get_response(response_id: str, request: Request) -> Response:
    """A stored response, as it was returned."""
    stored = await _stored(response_id, request)
    return Response(stored.body, media_type="application/json")


async def delete_response(response_id: str, request: Request) -> Response:
    """Forget a stored response (OpenAI's ``responses.delete``)."""
    store, owner = store_of(request), await _owner(request)
    if not await store.delete(response_id, owner):
        raise _not_found(response_id)
    return JSONResponse({"id": response_id, "object": "response", "deleted": True})


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


async def _owner(request: Request) -> str:
    # 401 for a caller who may not use the server; else who owns what it stored
    return (await core_of(request).caller(presented_credential(request))).principal.id


async def _stored(response_id: str, request: Request) -> KeptResponse:
    stored = await _kept(store_of(request), response_id, await _owner(request))
    if stored is None:
        raise _not_found(response_id)
    return stored


def _not_found(response_id: str) -> ConversationNotFoundError:
    return ConversationNotFoundError(
        f"No response found with id '{response_id}' (not stored, deleted, expired or evicted from the "
        "server's store, or made with other credentials)",
        param="response_id",
        code="response_not_found",
    )


def _frame(event: dict[str, Any]) -> bytes:
    kind: str = event["type"]
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"
