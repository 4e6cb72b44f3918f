"""Stored OpenAI Responses: what ``previous_response_id`` continues and ``GET /v1/responses/{id}`` shows.

A stored response keeps only what it added to its conversation (its input and its answer, reasoning
left out as in every prompt), the id of the response it followed (``previous``), and the reply id of
its answer in its DeepSeek session (``native``). A follow-up with the same model type and
instructions (``context``) goes on in that session with only its new input, and reads nothing but
that one record: a long chain costs the same per turn as a short one. When it cannot go on (the
session or its account is gone, the account is busy past ``chat.resume_wait_s``, or the context
changed) the whole conversation is read back along the ``previous`` links (``conversation_of``),
oldest first, and folded again into a new session; if a response of the chain is no longer stored
the caller gets a 404 naming it, never an answer without its context. Records of the first format
hold the whole conversation up to them and are read as such.

Records live in ``stores.responses`` (the SQLite file by default: they survive a restart and are
shared by the processes of one store), bounded in count, bytes, per owner and in time
(``store.responses_*``), least recently used first. Reading a chain back marks each of its
responses as used; going on natively reads only the newest, so a long chain's oldest turns are the
first to go when the store is full (a native follow-up does not need them).

A record holds no attachment bytes: each image or file is kept as the id DeepSeek gave it, with
the account that uploaded it (``files_account``). A follow-up runs on that account and refers
to the earlier files by those ids (``chat.files``), uploading only its own new ones.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from deepseek_free_api.chat.request import Attachment, ChatMessage, ToolCall
from deepseek_free_api.errors import ConversationNotFoundError, RequestError
from deepseek_free_api.stores.protocols import ResponseStore, StoredResponse

# Of the ``conversation`` JSON. 1: the whole conversation up to the response; 2: only what the
# response added, and a link to the one before. A record of another format is treated as unknown.
_FORMAT = 2
_WHOLE = 1


@dataclass(frozen=True, slots=True)
class KeptResponse:
    """One stored response as the Responses API uses it."""

    id: str
    owner: str  # the Principal id that created it: another caller's response is "not found"
    # What the response added (its input, then its answer); in a record of the first format, the
    # whole conversation up to and including its answer (then ``previous`` is None).
    messages: tuple[ChatMessage, ...]
    body: bytes = dataclasses.field(repr=False)  # the response JSON, as it was returned
    input_items: bytes = b"[]"  # the request's input items (api/responses_items), without bytes
    files_account: str | None = None  # the account holding the conversation's files
    native: str | None = None  # the answer's reply id in its DeepSeek session (``chat.conversations``)
    context: str = ""  # what that session assumes besides the messages (``session_context``)
    previous: str | None = None  # the response it followed (``previous_response_id``)


def session_context(model_type: str, instructions: str | None) -> str:
    """A digest of the model type and instructions a session was started with.

    A follow-up with other instructions cannot go on in the session: OpenAI does not carry earlier
    instructions over, and the session holds them in its first prompt.
    """
    text = f"{model_type}\0{instructions or ''}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def with_file_ids(messages: Sequence[ChatMessage], file_ids: Sequence[str]) -> tuple[ChatMessage, ...]:
    """``messages`` with their attachments' bytes replaced by the DeepSeek ``file_ids`` (in order).

    ``file_ids`` name every attachment (a turn in a new session references them all), or only those
    without an id yet (a turn that went on in its session uploads only its new ones). An attachment
    without an id (the turn's ids did not line up) keeps none: a follow-up that needs it is refused
    (``conversation_of``), never sent without it.
    """
    every = [a for m in messages for a in m.attachments]
    fill_all = len(every) == len(file_ids)
    lacking = sum(a.file_id is None for a in every)
    ids = iter(file_ids) if fill_all or lacking == len(file_ids) else iter(())
    kept: list[ChatMessage] = []
    for message in messages:
        if message.attachments:
            attachments = tuple(
                dataclasses.replace(
                    a,
                    inline=None,
                    url=None,
                    file_id=next(ids, None) if fill_all or a.file_id is None else a.file_id,
                )
                for a in message.attachments
            )
            message = dataclasses.replace(message, attachments=attachments)
        kept.append(message)
    return tuple(kept)


async def conversation_of(
    store: ResponseStore, kept: KeptResponse, param: str, *, max_links: int
) -> tuple[ChatMessage, ...]:
    """The whole conversation up to and including ``kept``'s answer, oldest first, read back along the
    ``previous`` links (at most ``max_links`` records: the store holds no more); 404 naming a response
    of the chain that is no longer stored, 400 if one of its files was not kept."""
    parts, seen, link = [kept.messages], {kept.id}, kept.previous
    while link is not None:
        if link in seen or len(seen) >= max_links:  # a loop, or longer than the store can hold
            raise ConversationNotFoundError(
                f"the conversation of the response '{kept.id}' cannot be read back (its chain of earlier "
                "responses is broken); send the whole conversation as input instead",
                param=param,
                code="previous_response_not_found",
            )
        record = await store.get(link, kept.owner)  # marks it used: a chain read back stays longer
        earlier = None if record is None else from_record(record)
        if earlier is None:
            raise ConversationNotFoundError(
                f"the response '{link}', an earlier turn of the conversation of '{kept.id}', is no longer "
                "stored (expired or evicted from the server's store, or deleted), and the conversation has "
                "to be replayed in a new DeepSeek session now; send the whole conversation as input instead",
                param=param,
                code="previous_response_not_found",
            )
        parts.append(earlier.messages)
        seen.add(link)
        link = earlier.previous
    conversation = tuple(message for part in reversed(parts) for message in part)
    for message in conversation:
        for attachment in message.attachments:
            if attachment.file_id is None:
                raise RequestError(
                    f"the conversation of the response '{kept.id}' holds an image or file "
                    f"('{attachment.param}') that was not kept; send the whole conversation as input instead",
                    param=param,
                )
    return conversation


def to_record(kept: KeptResponse, created_at: float) -> StoredResponse:
    """The store's record of ``kept``: its body, and the rest as JSON (always the current format)."""
    conversation = {
        "format": _FORMAT,
        "files_account": kept.files_account,
        "input_items": orjson.Fragment(kept.input_items),
        "messages": [_message(message) for message in kept.messages],
        "native": kept.native,
        "context": kept.context,
        "previous": kept.previous,
    }
    return StoredResponse(kept.id, kept.owner, kept.body, orjson.dumps(conversation), created_at=created_at)


def from_record(record: StoredResponse) -> KeptResponse | None:
    """The response a record holds; None for a record of an unknown format."""
    data = orjson.loads(record.conversation)
    if not isinstance(data, dict) or data.get("format") not in (_WHOLE, _FORMAT):
        return None
    return KeptResponse(
        record.id,
        record.owner,
        tuple(_chat_message(item) for item in data["messages"]),
        record.body,
        orjson.dumps(data["input_items"]),
        data["files_account"],
        data.get("native"),  # absent in the earliest records: those are replayed
        data.get("context", ""),
        data.get("previous") if data["format"] == _FORMAT else None,  # a whole conversation: no link
    )


def _message(message: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "text": message.text}
    if message.reasoning is not None:
        out["reasoning"] = message.reasoning
    if message.tool_calls:
        out["tool_calls"] = [[call.id, call.name, call.arguments] for call in message.tool_calls]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        out["name"] = message.name
    if message.attachments:
        out["attachments"] = [_attachment(a) for a in message.attachments]
    return out


def _attachment(a: Attachment) -> dict[str, Any]:
    return {
        "kind": a.kind,
        "filename": a.filename,
        "media_type": a.media_type,
        "param": a.param,
        "file_id": a.file_id,
    }


def _chat_message(item: dict[str, Any]) -> ChatMessage:
    return ChatMessage(
        role=item["role"],
        text=item["text"],
        reasoning=item.get("reasoning"),
        tool_calls=tuple(ToolCall(*call) for call in item.get("tool_calls", ())),
        tool_call_id=item.get("tool_call_id"),
        name=item.get("name"),
        attachments=tuple(Attachment(**attachment) for attachment in item.get("attachments", ())),
    )
