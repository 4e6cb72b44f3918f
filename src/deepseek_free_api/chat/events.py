"""What a chat turn produces: decoded upstream events plus the turn's own, in dialect-neutral words.

Renderers of each public dialect consume exactly these events; a non-streaming reply is the same
events collected. Why an answer ended is said in neutral words (``StopReason``) and mapped by each
dialect (OpenAI ``stop``/``length``…, Anthropic ``end_turn``/``max_tokens``…).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from deepseek_free_api.chat.request import ToolCall
from deepseek_free_api.upstream.events import Citation, ReasoningDelta, SearchResults, TextDelta

StopReason = Literal["end_turn", "stop_sequence", "max_tokens", "tool_use", "content_filter"]


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """Nothing to say yet (waiting for the PoW or the first token); made by the edge, not the turn."""


@dataclass(frozen=True, slots=True)
class Started:
    """Upstream accepted the turn; ``conversation_id`` lets the caller continue it natively.

    ``file_ids`` are the DeepSeek files the turn referenced, one per attachment it sent, in order:
    kept (instead of the bytes) so that a later turn on ``account_id`` can refer to them again.
    """

    conversation_id: str
    account_id: str
    file_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts with DeepSeek V4's tokenizer."""

    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int

    @property
    def total_tokens(self) -> int:
        """prompt + completion."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        """Both counts together (a turn that took a repair generation bills both)."""
        return TokenUsage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )


@dataclass(frozen=True, slots=True)
class Completed:
    """The answer is complete; ``stop_sequence`` is the matched string when ``stop`` says so.

    ``usage`` is always counted (usage is recorded per caller); a dialect shows it only when the
    request asks for it (``ChatRequest.wants_usage``).
    """

    stop: StopReason
    usage: TokenUsage | None
    stop_sequence: str | None = None


# A tool call found in the answer is the same value an assistant message carries in the history
# (``chat.request.ToolCall``: id, name, arguments as JSON text), so a collected reply can be sent back
# as is. The tool-call parser (``chat.tools``) emits it once the call is complete; it ends the answer
# with ``stop`` = ``tool_use``.
ChatEvent = KeepAlive | Started | ReasoningDelta | TextDelta | Citation | SearchResults | ToolCall | Completed

__all__ = [
    "ChatEvent",
    "Citation",
    "Completed",
    "KeepAlive",
    "ReasoningDelta",
    "SearchResults",
    "Started",
    "StopReason",
    "TextDelta",
    "TokenUsage",
    "ToolCall",
]
