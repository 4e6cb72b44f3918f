"""What a decoded DeepSeek completion stream says, independent of its wire generation.

The stream decoder turns SSE bytes (generation 1, 2 or 3) into these frozen values; the chat
service consumes them and the renderers of each public dialect turn them into JSON or SSE.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Ready:
    """The ``ready`` event: ids of this turn's messages."""

    request_message_id: int | None
    response_message_id: int | None
    model_type: str | None = None


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of reasoning (THINK fragment / thinking_content)."""

    text: str


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the visible answer, with citation markers already removed."""

    text: str


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One web search hit."""

    url: str
    title: str = ""
    snippet: str = ""
    site_name: str | None = None
    published_at: float | None = None
    cite_index: int | None = None


@dataclass(frozen=True, slots=True)
class SearchResults:
    """Results of one search (a TOOL_SEARCH/SEARCH fragment, or gen 1/2 search_results)."""

    results: tuple[SearchResult, ...]
    queries: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Citation:
    """A ``[reference:N]`` / ``[citation:N]`` marker, resolved; it stands where the marker stood."""

    url: str
    title: str = ""
    number: int = 0  # 1-based number among the distinct sources cited in this answer


@dataclass(frozen=True, slots=True)
class Usage:
    """Upstream's ``accumulated_token_usage`` (cumulative for the whole message)."""

    accumulated_tokens: int


FinishStatus = Literal["FINISHED", "CONTENT_FILTER", "INCOMPLETE"]


@dataclass(frozen=True, slots=True)
class Finish:
    """The first terminal status of the message.

    ``INCOMPLETE`` (or ``auto_continue``) means the caller should ``chat/continue``.
    With ``CONTENT_FILTER`` the already delivered answer is retracted; ``template`` holds the
    canned text that replaced it.
    """

    status: FinishStatus
    template: str | None = None


@dataclass(frozen=True, slots=True)
class StreamErrorFrame:
    """An error reported inside the stream (``{"type":"error"}``, ``hint``, ``toast``).

    Classified into the error tree by ``upstream.classifier``.
    """

    message: str
    finish_reason: str | None = None
    event: str | None = None  # "hint", "toast" or None for a message frame
    # An envelope inside the stream (code 50006, 40012, 90008 in an HTTP-200 stream, 2026-08).
    code: int | None = None
    biz_code: int | None = None
    mute_until: float | None = None


@dataclass(frozen=True, slots=True)
class Title:
    """The automatic session title (``title`` event)."""

    text: str


StreamEvent = (
    Ready | ReasoningDelta | TextDelta | SearchResults | Citation | Usage | Finish | StreamErrorFrame | Title
)
