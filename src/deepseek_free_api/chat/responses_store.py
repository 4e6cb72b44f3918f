"""Stored OpenAI Responses: what ``previous_response_id`` continues and ``GET /v1/responses/{id}`` shows.

A stored response keeps the conversation up to and including its own answer (reasoning left
out, as in every prompt), and the reply id of that answer in its DeepSeek session (``native``). A
follow-up with the same model type and instructions (``context``) goes on in that session with only
its new input; when it cannot (the session or its account is gone, the account is busy past
``chat.resume_wait_s``, or the context changed) the stored conversation is prepended and the whole
thing folded again into a new session. It lives in
``stores.responses`` (the SQLite file by default: it survives a restart and is shared by the
processes of one store), bounded in count, bytes, per owner and in time (``store.responses_*``);
past those bounds an id is unknown and the caller gets a 404 saying so, never an answer without
its context.

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
from deepseek_free_api.errors import RequestError
from deepseek_free_api.stores.protocols import StoredResponse

_FORMAT = 1  # of the ``conversation`` JSON; a record of another format is treated as unknown


@dataclass(frozen=True, slots=True)
class KeptResponse:
    """One stored response as the Responses API uses it."""

    id: str
    owner: str  # the Principal id that created it: another caller's response is "not found"
    conversation: tuple[ChatMessage, ...]
    body: bytes = dataclasses.field(repr=False)  # the response JSON, as it was returned
    input_items: bytes = b"[]"  # the request's input items (api/responses_items), without bytes
    files_account: str | None = None  # the account holding the conversation's files
    native: str | None = None  # the answer's reply id in its DeepSeek session (``chat.conversations``)
    context: str = ""  # what that session assumes besides the messages (``session_context``)


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


def conversation_of(kept: KeptResponse, param: str) -> tuple[ChatMessage, ...]:
    """The stored conversation for a follow-up; 400 if one of its files was not kept."""
    for message in kept.conversation:
        for attachment in message.attachments:
            if attachment.file_id is None:
                raise RequestError(
                    f"the response '{kept.id}' holds an image or file ('{attachment.param}') that was not "
                    "kept; send the whole conversation as input instead",
                    param=param,
                )
    return kept.conversation


def to_record(kept: KeptResponse, created_at: float) -> StoredResponse:
    """The store's record of ``kept``: its body, and the rest as JSON."""
    conversation = {
        "format": _FORMAT,
        "files_account": kept.files_account,
        "input_items": orjson.Fragment(kept.input_items),
        "messages": [_message(message) for message in kept.conversation],
        "native": kept.native,
        "context": kept.context,
    }
    return StoredResponse(kept.id, kept.owner, kept.body, orjson.dumps(conversation), created_at=created_at)


def from_record(record: StoredResponse) -> KeptResponse | None:
    """The response a record holds; None for a record of another format."""
    data = orjson.loads(record.conversation)
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        return None
    return KeptResponse(
        record.id,
        record.owner,
        tuple(_chat_message(item) for item in data["messages"]),
        record.body,
        orjson.dumps(data["input_items"]),
        data["files_account"],
        data.get("native"),  # absent in records of earlier versions: those are replayed
        data.get("context", ""),
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
        out["attachments"] = [
            {
                "kind": a.kind,
                "filename": a.filename,
                "media_type": a.media_type,
                "param": a.param,
                "file_id": a.file_id,
            }
            for a in message.attachments
        ]
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
