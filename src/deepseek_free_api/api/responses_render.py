"""Chat events -> OpenAI Responses stream events, and the ``response`` object they build.

One stateful renderer serves both ways: streaming sends its events, a non-streaming reply is
``response()`` after the same events were rendered. Output items follow the answer: a
``reasoning`` item (its text as one ``summary_text``) while the model thinks, a ``message``
with one ``output_text`` part (citations as ``url_citation`` annotations), and one
``function_call`` or ``custom_tool_call`` item per tool call. Every event carries
``sequence_number``; an item is always closed (``response.output_item.done``) before the next
opens and before the response ends, which Codex needs to see anything at all (CLIENTS.md).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from deepseek_free_api.api.errors import status_of
from deepseek_free_api.api.render_text import sources_list
from deepseek_free_api.api.responses_input import CUSTOM_INPUT
from deepseek_free_api.chat.events import (
    ChatEvent,
    Citation,
    Completed,
    KeepAlive,
    ReasoningDelta,
    SearchResults,
    Started,
    TextDelta,
    TokenUsage,
    ToolCall,
)
from deepseek_free_api.chat.request import ChatMessage
from deepseek_free_api.errors import ServiceError

if TYPE_CHECKING:
    from deepseek_free_api.api.responses_models import ResponsesRequest

Status = Literal["in_progress", "completed", "incomplete", "failed"]
Event = dict[str, Any]
# Why an answer is incomplete, in the Responses API's words (other stops complete it).
_INCOMPLETE = {"max_tokens": "max_output_tokens", "content_filter": "content_filter"}


@dataclass(slots=True)
class ResponseRenderer:
    """Stateful: turns the service's events into Responses stream events and one response object."""

    request: ResponsesRequest
    response_id: str
    show_reasoning: bool = True
    sources_text: bool = True
    created_at: int = field(default_factory=lambda: int(time.time()))
    status: Status = "in_progress"
    incomplete_reason: str | None = None
    usage: TokenUsage | None = None
    error: dict[str, Any] | None = None
    output: list[dict[str, Any]] = field(default_factory=list)
    _sequence: int = 0
    _open: dict[str, Any] | None = None  # the item being written, also the last of ``output``
    _cited: dict[str, Citation] = field(default_factory=dict)

    def render(self, event: ChatEvent) -> list[Event]:
        """Stream events for one chat event (the first one also opens the response)."""
        events = self._begin() if self._sequence == 0 else []
        if type(event) is TextDelta:  # nearly every event: before the union isinstance below
            return events + self._text(event.text)
        if isinstance(event, KeepAlive | SearchResults | Started):
            return events
        if isinstance(event, ReasoningDelta):
            return events + self._reasoning(event.text)
        if isinstance(event, TextDelta):
            return events + self._text(event.text)
        if isinstance(event, Citation):
            return events + self._citation(event)
        if isinstance(event, ToolCall):
            return events + self.tool_call(event)
        return events + self._completed(event)

    def response(self) -> dict[str, Any]:
        """The ``response`` object as it stands (complete once ``Completed`` was rendered)."""
        request = self.request
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created_at,
            "status": self.status,
            "background": False,
            "error": self.error,
            "incomplete_details": {"reason": self.incomplete_reason} if self.incomplete_reason else None,
            "instructions": request.instructions,
            "max_output_tokens": request.max_output_tokens,
            "model": request.model_name,
            "output": [dict(item) for item in self.output],
            "output_text": self.output_text,
            "parallel_tool_calls": request.parallel_tool_calls,
            "previous_response_id": request.previous_response_id,
            "reasoning": {"effort": request.effort, "summary": None},
            "store": request.store,
            "temperature": None,
            "text": {"format": {"type": "text"}},
            "tool_choice": request.wire_tool_choice,
            "tools": list(request.wire_tools),
            "top_p": None,
            "truncation": "disabled",
            "usage": self._usage(),
            "user": None,
            "metadata": {},
        }

    @property
    def output_text(self) -> str:
        """All ``output_text`` of the output, joined (the SDK's convenience property)."""
        return "".join(
            part["text"] for item in self.output if item["type"] == "message" for part in item["content"]
        )

    def answer(self) -> ChatMessage:
        """The assistant turn this response added, for ``previous_response_id`` (reasoning left out)."""
        calls = tuple(
            ToolCall(item["call_id"], item["name"], item["arguments"])
            if item["type"] == "function_call"
            else ToolCall(item["call_id"], item["name"], json.dumps({CUSTOM_INPUT: item["input"]}))
            for item in self.output
            if item["type"] in ("function_call", "custom_tool_call")
        )
        return ChatMessage(role="assistant", text=self.output_text, tool_calls=calls)

    def tool_call(self, call: ToolCall) -> list[Event]:
        """A complete tool call as a ``function_call`` (or ``custom_tool_call``) item."""
        events = self._close()
        custom = call.name in self.request.custom_tools
        if custom:
            kind, field_name, prefix = "custom_tool_call", "input", "ctc"
            value = _custom_input(call.arguments)
        else:
            kind, field_name, prefix = "function_call", "arguments", "fc"
            value = call.arguments
        item = {"id": self._item_id(prefix), "type": kind, "status": "in_progress"}
        item |= {"call_id": call.id, "name": call.name, field_name: ""}
        events += self._add(item)
        item[field_name] = value
        topic = "custom_tool_call_input" if custom else "function_call_arguments"
        where = {"item_id": item["id"], "output_index": len(self.output) - 1}
        events.append(self._event(f"response.{topic}.delta", **where, delta=value))
        events.append(self._event(f"response.{topic}.done", **where, **{field_name: value}))
        return events + self._close()

    def failed(self, error: ServiceError) -> list[Event]:
        """``response.failed`` for an error after the stream started (the items so far closed)."""
        events = self._begin() if self._sequence == 0 else []  # only keep-alives went out so far
        events += self._close("incomplete")
        status, _ = status_of(error)
        code = "rate_limit_exceeded" if status == 429 else "server_error"
        self.status = "failed"
        self.error = {"code": code, "message": error.message}
        return [*events, self._event("response.failed", response=self.response())]

    def _begin(self) -> list[Event]:
        return [
            self._event("response.created", response=self.response()),
            self._event("response.in_progress", response=self.response()),
        ]

    def _reasoning(self, text: str) -> list[Event]:
        if not self.show_reasoning or not text:
            return []
        events: list[Event] = []
        item = self._open
        if item is None or item["type"] != "reasoning":
            events += self._close()
            item = {"id": self._item_id("rs"), "type": "reasoning", "summary": [], "encrypted_content": None}
            events += self._add(item)
            item["summary"].append({"type": "summary_text", "text": ""})
            added = self._event("response.reasoning_summary_part.added", **self._at(item), part=_summary(""))
            events.append(added)
        item["summary"][0]["text"] += text
        events.append(self._event("response.reasoning_summary_text.delta", **self._at(item), delta=text))
        return events

    def _text(self, text: str, annotation: dict[str, Any] | None = None) -> list[Event]:
        if not text:
            return []
        events: list[Event] = []
        item = self._open
        if item is None or item["type"] != "message":
            events += self._close()
            item = {"id": self._item_id("msg"), "type": "message", "role": "assistant"}
            item |= {"status": "in_progress", "content": []}
            events += self._add(item)
            item["content"].append(_output_text(""))
            events.append(self._event("response.content_part.added", **self._at(item), part=_output_text("")))
        part = item["content"][0]
        start = len(part["text"])
        part["text"] += text
        events.append(self._event("response.output_text.delta", **self._at(item), delta=text, logprobs=[]))
        if annotation is not None:
            annotation |= {"start_index": start, "end_index": start + len(text)}
            part["annotations"].append(annotation)
            index = len(part["annotations"]) - 1
            events.append(
                self._event(
                    "response.output_text.annotation.added",
                    **self._at(item),
                    annotation_index=index,
                    annotation=annotation,
                )
            )
        return events

    def _citation(self, citation: Citation) -> list[Event]:
        if not self.show_reasoning:  # a silent model: no search lists, no markers
            return []
        self._cited.setdefault(citation.url, citation)
        annotation = {"type": "url_citation", "url": citation.url, "title": citation.title or citation.url}
        return self._text(f"[{citation.number}]", annotation)

    def _completed(self, event: Completed) -> list[Event]:
        events = self._text(self._sources())
        self.usage = event.usage
        self.incomplete_reason = _INCOMPLETE.get(event.stop)
        self.status = "incomplete" if self.incomplete_reason else "completed"
        events += self._close("incomplete" if self.incomplete_reason else "completed")
        kind = "response.incomplete" if self.incomplete_reason else "response.completed"
        return [*events, self._event(kind, response=self.response())]

    def _sources(self) -> str:
        if not self.sources_text or not self.show_reasoning:
            return ""
        return sources_list(self._cited.values())

    def _add(self, item: dict[str, Any]) -> list[Event]:
        self.output.append(item)
        self._open = item
        added = json.loads(json.dumps(item))  # the item as it was announced, before it grows
        return [self._event("response.output_item.added", output_index=len(self.output) - 1, item=added)]

    def _close(self, status: str = "completed") -> list[Event]:
        """Finish the open item with its ``*.done`` events."""
        item, self._open = self._open, None
        if item is None:
            return []
        events: list[Event] = []
        at = self._at(item)
        if item["type"] == "reasoning":
            text = item["summary"][0]["text"]
            events.append(self._event("response.reasoning_summary_text.done", **at, text=text))
            events.append(self._event("response.reasoning_summary_part.done", **at, part=_summary(text)))
        elif item["type"] == "message":
            part = item["content"][0]
            events.append(self._event("response.output_text.done", **at, text=part["text"], logprobs=[]))
            events.append(self._event("response.content_part.done", **at, part=dict(part)))
        if "status" in item:
            item["status"] = status
        index = at["output_index"]
        return [*events, self._event("response.output_item.done", output_index=index, item=dict(item))]

    def _at(self, item: dict[str, Any]) -> dict[str, Any]:
        where: dict[str, Any] = {"item_id": item["id"], "output_index": self.output.index(item)}
        if item["type"] == "reasoning":
            where["summary_index"] = 0
        elif item["type"] == "message":
            where["content_index"] = 0
        return where

    def _usage(self) -> dict[str, Any] | None:
        usage = self.usage
        if usage is None:
            return None
        return {
            "input_tokens": usage.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": usage.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
            "total_tokens": usage.total_tokens,
        }

    def _item_id(self, prefix: str) -> str:
        return f"{prefix}_{self.response_id.removeprefix('resp_')}{len(self.output):03d}"

    def _event(self, kind: str, **fields: Any) -> Event:
        event = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return event


def _summary(text: str) -> dict[str, Any]:
    return {"type": "summary_text", "text": text}


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _custom_input(arguments: str) -> str:
    """The free text of a custom tool's call (written as ``{"input": ...}``, or raw)."""
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return arguments
    text = parsed.get(CUSTOM_INPUT) if isinstance(parsed, dict) else None
    if isinstance(text, str):
        return text
    return arguments
