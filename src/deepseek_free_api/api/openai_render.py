"""Chat events -> OpenAI ``chat.completion.chunk`` objects, and chunks -> one ``chat.completion``.

Streaming and non-streaming share this code: a non-streaming reply is the chunks merged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from deepseek_free_api.api.render_text import InlineReasoning, sources_list
from deepseek_free_api.chat.events import (
    ChatEvent,
    Citation,
    Completed,
    KeepAlive,
    ReasoningDelta,
    SearchResults,
    Started,
    StopReason,
    TextDelta,
    ToolCall,
)
from deepseek_free_api.chat.request import ReasoningMode

# Neutral stop reasons in OpenAI's words.
FINISH_REASONS: dict[StopReason, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
}


@dataclass(slots=True)
class ChunkRenderer:
    """Stateful: turns the service's events into OpenAI chunk dicts."""

    model: str
    reasoning_mode: ReasoningMode
    include_usage: bool
    sources_text: bool
    created: int = field(default_factory=lambda: int(time.time()))
    id: str = ""
    _inline: InlineReasoning = field(default_factory=InlineReasoning)  # reasoning inside content
    _content_length: int = 0
    _calls: int = 0  # tool calls rendered so far (their ``index``)
    _cited: dict[str, Citation] = field(default_factory=dict)
    _held: str = ""  # hidden mode: trailing spaces that belong to a marker if a citation follows

    def render(self, event: ChatEvent) -> list[dict[str, Any]]:
        """Chunks for one event (KeepAlive gives none: the transport sends a comment)."""
        if type(event) is TextDelta:  # nearly every event: before the union isinstance below
            return self._content(self._close_reasoning() + self._answer(event.text))
        if isinstance(event, KeepAlive | SearchResults):
            return []
        if isinstance(event, Started):
            self.id = event.conversation_id
            return [self._chunk({"role": "assistant", "content": ""})]
        if isinstance(event, ReasoningDelta):
            return self._reasoning(event.text)
        if isinstance(event, TextDelta):
            return self._content(self._close_reasoning() + self._answer(event.text))
        if isinstance(event, Citation):
            return self._citation(event)
        if isinstance(event, Completed):
            return self._completed(event)
        return self._tool_call(event)

    def _tool_call(self, call: ToolCall) -> list[dict[str, Any]]:
        """A call as OpenAI streams one: id, type and name first, then the arguments."""
        chunks = self._content(self._close_reasoning())
        index, self._calls = self._calls, self._calls + 1
        head = {
            "index": index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        chunks.append(self._chunk({"tool_calls": [head]}))
        chunks.append(
            self._chunk({"tool_calls": [{"index": index, "function": {"arguments": call.arguments}}]})
        )
        return chunks

    def _reasoning(self, text: str) -> list[dict[str, Any]]:
        mode = self.reasoning_mode
        if mode == "hidden" or not text:
            return []
        if mode == "reasoning_content":
            return [self._chunk({"reasoning_content": text})]
        return self._content(self._inline.open(mode, text))

    def _close_reasoning(self) -> str:
        """The closing tag when inline reasoning is open (once; reasoning is never reopened)."""
        return self._inline.close(self.reasoning_mode)

    def _answer(self, text: str) -> str:
        """Answer text to send now; with citations dropped, spaces before a marker go with it.

        "answer [1][2]" without its markers would end in a space: trailing spaces wait for the
        next event, and a dropped citation drops them.
        """
        if self.reasoning_mode != "hidden":
            return text
        text = self._held + text
        kept = text.rstrip(" \t")
        self._held = text[len(kept) :]
        return kept

    def _content(self, text: str, annotations: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        if not text:
            return []
        self._content_length += len(text)
        delta: dict[str, Any] = {"content": text}
        if annotations:
            delta["annotations"] = annotations
        return [self._chunk(delta)]

    def _citation(self, citation: Citation) -> list[dict[str, Any]]:
        if self.reasoning_mode == "hidden":  # silent: no search lists, no markers
            self._held = ""
            return []
        self._cited.setdefault(citation.url, citation)
        prefix = self._close_reasoning()
        marker = f"[{citation.number}]"
        start = self._content_length + len(prefix)
        annotation = {
            "type": "url_citation",
            "url_citation": {
                "url": citation.url,
                "title": citation.title,
                "start_index": start,
                "end_index": start + len(marker),
            },
        }
        return self._content(prefix + marker, [annotation])

    def _completed(self, event: Completed) -> list[dict[str, Any]]:
        held, self._held = self._held, ""  # trailing spaces no citation followed are the answer's
        chunks = self._content(self._close_reasoning() + held + self._sources())
        final = self._chunk({}, finish_reason=FINISH_REASONS[event.stop])
        chunks.append(final)
        if self.include_usage and event.usage is not None:
            usage = {
                "prompt_tokens": event.usage.prompt_tokens,
                "completion_tokens": event.usage.completion_tokens,
                "total_tokens": event.usage.total_tokens,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": event.usage.reasoning_tokens},
            }
            chunks.append({**self._chunk({}), "choices": [], "usage": usage})
        return chunks

    def _sources(self) -> str:
        if not self.sources_text or self.reasoning_mode == "hidden":
            return ""
        return sources_list(self._cited.values())

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        if self.include_usage:
            chunk["usage"] = None
        return chunk


def merge_chunks(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The non-streaming ``chat.completion`` equivalent of a chunk sequence (rendered with usage)."""
    usage = next((chunk["usage"] for chunk in reversed(chunks) if chunk.get("usage")), None)
    content: list[str] = []
    reasoning: list[str] = []
    annotations: list[dict[str, Any]] = []
    calls: dict[int, dict[str, Any]] = {}
    finish_reason = "stop"
    first = chunks[0] if chunks else {"id": "", "created": int(time.time()), "model": ""}
    for chunk in chunks:
        for choice in chunk.get("choices", ()):
            delta = choice["delta"]
            content.append(delta.get("content") or "")
            reasoning.append(delta.get("reasoning_content") or "")
            annotations.extend(delta.get("annotations") or ())
            for piece in delta.get("tool_calls") or ():
                _merge_call(calls, piece)
            finish_reason = choice.get("finish_reason") or finish_reason
    message: dict[str, Any] = {"role": "assistant", "content": "".join(content)}
    if any(reasoning):
        message["reasoning_content"] = "".join(reasoning)
    if annotations:
        message["annotations"] = annotations
    if calls:
        message["tool_calls"] = [calls[index] for index in sorted(calls)]
        message["content"] = message["content"] or None
    return {
        "id": first["id"],
        "object": "chat.completion",
        "created": first["created"],
        "model": first["model"],
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
        "usage": usage,
    }


def _merge_call(calls: dict[int, dict[str, Any]], piece: dict[str, Any]) -> None:
    """Add one streamed ``tool_calls`` fragment to the call it belongs to (by ``index``)."""
    call = calls.setdefault(
        piece["index"], {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
    )
    call["id"] = piece.get("id") or call["id"]
    function = piece.get("function") or {}
    call["function"]["name"] = function.get("name") or call["function"]["name"]
    call["function"]["arguments"] += function.get("arguments") or ""
