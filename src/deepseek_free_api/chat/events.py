"""What the chat service yields: decoded upstream events plus the service's own.

Renderers of each public dialect consume exactly this stream; non-streaming replies are the
same events collected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from deepseek_free_api.upstream.events import Citation, ReasoningDelta, SearchResults, TextDelta

FinishReason = Literal["stop", "length", "content_filter", "tool_calls"]


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """Nothing to say yet (waiting for an account, the PoW or the first token)."""


@dataclass(frozen=True, slots=True)
class Started:
    """Upstream accepted the turn; ``conversation_id`` is ``<chat_session_id>@<response_message_id>``."""

    conversation_id: str
    account_id: str


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


@dataclass(frozen=True, slots=True)
class Completed:
    """The answer is complete."""

    finish_reason: FinishReason
    usage: TokenUsage


ChatEvent = KeepAlive | Started | ReasoningDelta | TextDelta | Citation | SearchResults | Completed

__all__ = [
    "ChatEvent",
    "Citation",
    "Completed",
    "FinishReason",
    "KeepAlive",
    "ReasoningDelta",
    "SearchResults",
    "Started",
    "TextDelta",
    "TokenUsage",
]
