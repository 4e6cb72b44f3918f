"""The digest a conversation is known by for session reuse: who asks, with what, and what was said.

Agents (Claude Code, Codex, Cline) send the whole history on every turn. After a turn the server
keeps its session under the digest of the conversation *including the answer it gave*; the next
request is looked up by the digest of its messages up to its last assistant message. They meet
when the caller sent back exactly what it was told, so the digest leaves out what clients change
on the way without changing the conversation:

* reasoning (thinking blocks come back signed, or not at all; prompts never carry it);
* whitespace runs, which clients trim or keep (``" ".join(text.split())``);
* tool call ids, and the spelling of call arguments (compared as canonical JSON);
* how an assistant turn is split into items (Responses sends text and each call as its own item):
  consecutive assistant messages count as one.

The caller's Principal, the model type and the declared tools are part of it: another key never
finds a session, and changed tools or mode start anew. Volatile parts of system prompts are
removed at the edge before this (Claude Code's ``x-anthropic-billing-header`` line,
``api.anthropic_models``).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence

from deepseek_free_api.chat.request import Attachment, ChatMessage, ChatRequest, ToolCall
from deepseek_free_api.json_text import parse_json

_PURPOSE = "deepseek-free-api/session-reuse/1"
# Folding a text's whitespace costs ~1 ms per 100,000 characters, and an agent sends the same
# messages (its tool instructions, the earlier turns) with every request, each folded twice (the
# request looked up before its turn, the conversation kept after it). The folded forms of texts of
# at least ``_KEPT_FROM`` characters are kept, by the text, up to ``_KEPT_CHARS`` characters of
# texts, the least recently used dropped first.
_KEPT_FROM = 4096
_KEPT_CHARS = 2_000_000


def earlier_turns(messages: Sequence[ChatMessage]) -> Sequence[ChatMessage]:
    """The messages up to and including the last assistant message (empty when there is none)."""
    last = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=-1)
    return messages[: last + 1]


def conversation_key(principal_id: str, request: ChatRequest, messages: Sequence[ChatMessage]) -> str:
    """The digest of ``messages`` as ``principal_id`` sent them with ``request``'s model and tools."""
    digest = hashlib.sha256()

    def feed(*parts: str) -> None:
        for part in parts:
            data = part.encode("utf-8", "surrogatepass")
            digest.update(b"%d:" % len(data))  # length-prefixed: no two sequences read the same
            digest.update(data)

    feed(_PURPOSE, principal_id, request.model.model_type)
    for tool in request.tools:
        feed("tool", tool.name, tool.description, _canonical(dict(tool.parameters)))
    for message in _merged(messages):
        feed("message", message.role, _words(message.text), message.name or "")
        for call in message.tool_calls:
            feed("call", call.name, _arguments(call))
        for attachment in message.attachments:
            feed("attachment", *_attachment(attachment))
    return digest.hexdigest()


def _merged(messages: Iterable[ChatMessage]) -> list[ChatMessage]:
    """Consecutive assistant messages as one: text joined, calls in order.

    Each run is joined once: joining message by message copied the text so far at every step,
    which made a request of many short assistant messages (an 8 MiB body holds 150,000) cost
    minutes of CPU.
    """
    merged: list[ChatMessage] = []
    run: list[ChatMessage] = []

    def flush() -> None:
        if len(run) == 1:
            merged.append(run[0])
        elif run:
            merged.append(
                ChatMessage(
                    role="assistant",
                    text=" ".join(m.text for m in run),
                    tool_calls=tuple(c for m in run for c in m.tool_calls),
                    attachments=tuple(a for m in run for a in m.attachments),
                )
            )
        run.clear()

    for message in messages:
        if message.role == "assistant":
            run.append(message)
        else:
            flush()
            merged.append(message)
    flush()
    return merged


class _Folded:
    """Texts' folded forms (``_words``) kept by the text; used from the loop and worker threads."""

    def __init__(self) -> None:
        self._kept: OrderedDict[str, str] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    def __call__(self, text: str) -> str:
        if not _KEPT_FROM <= len(text) <= _KEPT_CHARS // 4:  # short, or would push out most others
            return _fold(text)
        with self._lock:
            folded = self._kept.get(text)
            if folded is not None:
                self._kept.move_to_end(text)
                return folded
        folded = _fold(text)
        with self._lock:
            if text not in self._kept:
                self._kept[text] = folded
                self._chars += len(text)
                while self._chars > _KEPT_CHARS:
                    dropped, _ = self._kept.popitem(last=False)
                    self._chars -= len(dropped)
        return folded

    def __len__(self) -> int:
        return len(self._kept)


def _fold(text: str) -> str:
    """``text`` with its whitespace runs as single spaces, none at either end."""
    return " ".join(text.split())


_words = _Folded()


def _arguments(call: ToolCall) -> str:
    try:
        return _canonical(parse_json(call.arguments))
    except ValueError:  # not JSON (or too deep to read): compared as written, whitespace aside
        return _words(call.arguments)


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _attachment(attachment: Attachment) -> tuple[str, ...]:
    content = attachment.inline.text if attachment.inline is not None else attachment.url or ""
    content_digest = hashlib.sha256(content.encode()).hexdigest()
    return attachment.kind, attachment.media_type, attachment.file_id or "", content_digest
