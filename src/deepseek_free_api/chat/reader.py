"""What a decoded DeepSeek stream means for the caller: visible events, why it ended, the text so far.

Also how the prompt speaks of tools and structured output (``prompt_options``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio

from deepseek_free_api.chat.events import ChatEvent, Completed, StopReason, TokenUsage, ToolCall
from deepseek_free_api.chat.generation import Generation
from deepseek_free_api.chat.pipeline import Pipeline
from deepseek_free_api.chat.request import ChatRequest
from deepseek_free_api.chat.structured import format_instructions
from deepseek_free_api.chat.tools import render_tool_calls, render_tool_result, tool_instructions
from deepseek_free_api.chat.tools.parser import Unusable
from deepseek_free_api.errors import EmptyAnswerError, UpstreamServerError
from deepseek_free_api.upstream.classifier import classify_stream_error
from deepseek_free_api.upstream.events import (
    Citation,
    Finish,
    Ready,
    ReasoningDelta,
    SearchResults,
    StreamErrorFrame,
    StreamEvent,
    TextDelta,
)


def prompt_options(request: ChatRequest) -> dict[str, Any]:
    """How the prompt speaks of tools (DSML instructions and history) and of the answer's format."""
    answer_format = format_instructions(request.response_format)
    if not request.wants_tools:
        return {"instructions": answer_format} if answer_format else {}
    tools = tool_instructions(request.tools, request.tool_choice, parallel=request.parallel_tool_calls)
    return {
        "instructions": f"{tools}\n\n{answer_format}" if answer_format else tools,
        "render_tool_calls": render_tool_calls,
        "render_tool_result": render_tool_result,
    }


class Reader:
    """What the decoded stream means for the caller: visible events, the end, the text so far."""

    def __init__(self, pipeline: Pipeline, file_ids: tuple[str, ...] = ()) -> None:
        self.pipeline = pipeline
        self.file_ids = file_ids  # the DeepSeek files the completion referenced (for ``Started``)
        self.answer: list[str] = []
        self.reasoning: list[str] = []
        self.size = 0
        self.started = False
        self.delivered = False  # the first batch was handed to the caller's side
        self.announced: int | None = None  # the message id the caller was given
        self.incomplete = False
        self.finished: StopReason | None = None

    @property
    def unusable(self) -> Unusable | None:
        """The tool-call block that ended the answer unsent, for a repair round (``chat.tools.repair``)."""
        tools = self.pipeline.tools
        return tools.unusable if tools is not None else None

    @property
    def stop(self) -> StopReason | None:
        """Why the answer is over, if it is (an early cut by the pipeline wins)."""
        early = self.pipeline.stop
        return early.reason if early is not None else self.finished

    async def read(self, events: Sequence[StreamEvent], generation: Generation) -> list[ChatEvent]:
        """``interpret``, in a worker thread when the pipeline may check tool calls (CPU work)."""
        if self.pipeline.costly(events):
            return await anyio.to_thread.run_sync(self.interpret, events, generation)
        return self.interpret(events, generation)

    def interpret(self, events: Sequence[StreamEvent], generation: Generation) -> list[ChatEvent]:
        """Decoded events -> visible events after the pipeline."""
        visible: list[ChatEvent] = []
        for event in events:
            if isinstance(event, ReasoningDelta | TextDelta | Citation | SearchResults):
                visible.append(event)
            elif isinstance(event, Finish):
                generation.ended()
                if event.status == "INCOMPLETE":
                    self.incomplete = True
                elif event.status == "CONTENT_FILTER":
                    if event.template and not self.answer:
                        visible.append(TextDelta(event.template))
                    self.finished = "content_filter"
                else:
                    self.finished = "end_turn"
            elif isinstance(event, StreamErrorFrame) and not self.incomplete:
                # After INCOMPLETE, a generation_err frame only explains it; we continue instead.
                # Otherwise it is DeepSeek's last word: a refused turn (hint, busy) never started a
                # generation and a failed one has ended, so there is nothing to stop_stream.
                generation.ended()
                raise classify_stream_error(event)
            elif isinstance(event, Ready):
                pass  # the ids live in the decoder
        out = self.pipeline.feed(visible) if visible else []
        if self.stop is not None:
            out += self.pipeline.flush()
        self._note(out)
        return out

    def complete(self, usage: TokenUsage | None) -> list[ChatEvent]:
        """The final batch: anything held back, then ``Completed``."""
        stop = self.stop
        if stop is None:  # pragma: no cover - _read only returns with a stop reason
            raise UpstreamServerError("the answer ended without a reason")
        if not self.answer and stop == "end_turn":
            raise EmptyAnswerError("DeepSeek finished without an answer")
        early = self.pipeline.stop
        sequence = early.sequence if early is not None else None
        return [Completed(stop=stop, usage=usage, stop_sequence=sequence)]

    def _note(self, events: list[ChatEvent]) -> None:
        for event in events:
            if isinstance(event, TextDelta):
                self.answer.append(event.text)
                self.size += len(event.text)
            elif isinstance(event, ReasoningDelta):
                self.reasoning.append(event.text)
                self.size += len(event.text)
            elif isinstance(event, ToolCall):
                self.answer.append(event.arguments)  # a call's arguments count as answer tokens
                self.size += len(event.arguments)
