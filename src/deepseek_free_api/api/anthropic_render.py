"""Chat events -> Anthropic Messages stream events, and stream events -> one ``message``.

Streaming and non-streaming share this code: a non-streaming reply is the stream events
assembled (``assemble``), as the SDK's ``get_final_message()`` does on its side.

Reasoning becomes a ``thinking`` block (``thinking_delta`` pieces, then one ``signature_delta``
before its ``content_block_stop``); the signature is ours, a digest of the thinking text, since
DeepSeek signs nothing and earlier reasoning is never sent back upstream anyway.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from deepseek_free_api.api.render_text import INLINE_REASONING, InlineReasoning, sources_list
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

# Neutral stop reasons in Anthropic's words (a filtered answer is Anthropic's "refusal").
STOP_REASONS: dict[StopReason, str] = {
    "end_turn": "end_turn",
    "stop_sequence": "stop_sequence",
    "max_tokens": "max_tokens",
    "tool_use": "tool_use",
    "content_filter": "refusal",
}
_SIGNATURE_PREFIX = b"dsfa-v1:"

StreamEvent = dict[str, Any]


def tool_use_id(call_id: str) -> str:
    """Anthropic's ``toolu_…`` form of a call id (the same call keeps the same id)."""
    return "toolu_" + call_id.removeprefix("call_")


def new_message_id() -> str:
    """An id in Anthropic's ``msg_…`` form."""
    return "msg_" + secrets.token_hex(12)


@dataclass(slots=True)
class MessageRenderer:
    """Stateful: turns the service's events into Anthropic stream event dicts."""

    model: str
    reasoning_mode: ReasoningMode
    input_tokens: int
    sources_text: bool
    id: str = field(default_factory=new_message_id)
    _started: bool = False
    _block: Literal["none", "thinking", "text"] = "none"
    _index: int = -1
    _inline: InlineReasoning = field(default_factory=InlineReasoning)
    _digest: Any = None
    _cited: dict[str, Citation] = field(default_factory=dict)

    def render(self, event: ChatEvent) -> list[StreamEvent]:
        """Stream events for one chat event (KeepAlive gives none: the transport sends ``ping``)."""
        out = self._start()
        if type(event) is TextDelta:  # nearly every event: before the union isinstance below
            return out + self._text(self._close_inline() + event.text)
        if isinstance(event, KeepAlive | SearchResults | Started):
            return out
        if isinstance(event, ReasoningDelta):
            return out + self._reasoning(event.text)
        if isinstance(event, TextDelta):
            return out + self._text(self._close_inline() + event.text)
        if isinstance(event, Citation):
            return out + self._citation(event)
        if isinstance(event, ToolCall):
            return out + self._tool_use(event)
        return out + self._completed(event)

    def _tool_use(self, call: ToolCall) -> list[StreamEvent]:
        """A ``tool_use`` block: input ``{}`` at the start, then the arguments as ``input_json_delta``.

        Claude Code reads the input only from the deltas (an input put in the start event becomes
        ``{}`` for it, CLIENTS.md).
        """
        out = self._text(self._close_inline())
        out += self._close()
        self._index += 1
        block = {"type": "tool_use", "id": tool_use_id(call.id), "name": call.name, "input": {}}
        delta = {"type": "input_json_delta", "partial_json": call.arguments}
        out.append({"type": "content_block_start", "index": self._index, "content_block": block})
        out.append({"type": "content_block_delta", "index": self._index, "delta": delta})
        out.append({"type": "content_block_stop", "index": self._index})
        return out

    def _start(self) -> list[StreamEvent]:
        if self._started:
            return []
        self._started = True
        message: dict[str, Any] = {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": self.input_tokens,
                "output_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
        return [{"type": "message_start", "message": message}]

    def _reasoning(self, text: str) -> list[StreamEvent]:
        mode = self.reasoning_mode
        if mode == "hidden" or not text:
            return []
        if mode in INLINE_REASONING:
            return self._text(self._inline.open(mode, text))
        out = self._open("thinking")
        self._digest.update(text.encode())
        delta = {"type": "thinking_delta", "thinking": text}
        return [*out, {"type": "content_block_delta", "index": self._index, "delta": delta}]

    def _close_inline(self) -> str:
        return self._inline.close(self.reasoning_mode)

    def _text(self, text: str) -> list[StreamEvent]:
        if not text:
            return []
        out = self._open("text")
        delta = {"type": "text_delta", "text": text}
        return [*out, {"type": "content_block_delta", "index": self._index, "delta": delta}]

    def _open(self, kind: Literal["thinking", "text"]) -> list[StreamEvent]:
        if self._block == kind:
            return []
        out = self._close()
        self._block = kind
        self._index += 1
        block: dict[str, Any] = {"type": "text", "text": ""}
        if kind == "thinking":
            self._digest = hashlib.sha256()
            block = {"type": "thinking", "thinking": "", "signature": ""}
        out.append({"type": "content_block_start", "index": self._index, "content_block": block})
        return out

    def _close(self) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        if self._block == "thinking":
            signature = base64.b64encode(_SIGNATURE_PREFIX + self._digest.digest()).decode()
            delta = {"type": "signature_delta", "signature": signature}
            out.append({"type": "content_block_delta", "index": self._index, "delta": delta})
        if self._block != "none":
            out.append({"type": "content_block_stop", "index": self._index})
        self._block = "none"
        return out

    def _citation(self, citation: Citation) -> list[StreamEvent]:
        if self.reasoning_mode == "hidden":  # silent: no search lists, no markers
            return []
        self._cited.setdefault(citation.url, citation)
        return self._text(self._close_inline() + f"[{citation.number}]")

    def _completed(self, event: Completed) -> list[StreamEvent]:
        out = self._text(self._close_inline() + self._sources())
        out += self._close()
        usage: dict[str, Any] = {"output_tokens": 0}
        if event.usage is not None:
            used = event.usage
            usage = {"input_tokens": used.prompt_tokens, "output_tokens": used.completion_tokens}
        delta = {"stop_reason": STOP_REASONS[event.stop], "stop_sequence": event.stop_sequence}
        out.append({"type": "message_delta", "delta": delta, "usage": usage})
        out.append({"type": "message_stop"})
        return out

    def _sources(self) -> str:
        if not self.sources_text or self.reasoning_mode == "hidden":
            return ""
        return sources_list(self._cited.values())


def assemble(events: list[StreamEvent]) -> dict[str, Any]:
    """The non-streaming ``message`` equivalent of a stream event sequence."""
    message: dict[str, Any] = {}
    content: list[dict[str, Any]] = []
    for event in events:
        kind = event["type"]
        if kind == "message_start":
            message = dict(event["message"])
            message["usage"] = dict(message["usage"])
        elif kind == "content_block_start":
            content.append(dict(event["content_block"]))
        elif kind == "content_block_delta":
            _apply(content[event["index"]], event["delta"])
        elif kind == "message_delta":
            message.update(event["delta"])
            message["usage"].update(event["usage"])
    for block in content:
        if "partial_json" in block:
            block["input"] = orjson.loads(block.pop("partial_json") or "{}")
    message["content"] = content
    return message


def _apply(block: dict[str, Any], delta: dict[str, Any]) -> None:
    kind = delta["type"]
    if kind == "text_delta":
        block["text"] += delta["text"]
    elif kind == "thinking_delta":
        block["thinking"] += delta["thinking"]
    elif kind == "signature_delta":
        block["signature"] = delta["signature"]
    elif kind == "input_json_delta":
        block["partial_json"] = block.get("partial_json", "") + delta["partial_json"]
