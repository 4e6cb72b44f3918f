"""Answer text with its citation markers resolved, and search hits as internal values.

DeepSeek writes ``[reference:N]`` (generation 3) or ``[citation:N]`` (generations 1 and 2) into
the answer text (PROTOCOL.md §5.4). An ``AnswerCursor`` walks one answer field as it grows, hands
out the text between markers and turns each marker into ``Citation`` events at its position. A
``[`` near the end that may still become a marker is held back until the next frame decides.

Markers that stand together (nothing but whitespace between them) cite each source once: a
generation-3 reference to a whole search stands for all of its hits, and DeepSeek writes one
marker per hit it used, each naming the same search, which gave ``[1][2][1][2]`` for two sources.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from deepseek_free_api.upstream.events import Citation, SearchResult, StreamEvent, TextDelta
from deepseek_free_api.upstream.patch import text_since

_MARKER = re.compile(r"\[(reference|citation):(\d{1,6})\]")
_KEYWORDS = ("reference:", "citation:")
_LONGEST_MARKER = len("[reference:999999]")
# In every capture a reference entry arrives in the same frame as its marker or in the next one
# (PROTOCOL.md §5.4/5.5 d); waiting a few frames more costs nothing, waiting forever stalls text.
MARKER_PATIENCE_FRAMES = 4


@dataclass(frozen=True, slots=True)
class Source:
    """Where a citation points."""

    url: str
    title: str = ""


Resolver = Callable[[str, int], Sequence[Source] | None]
"""``(kind, N) -> sources``; ``None`` = not known yet (wait), empty = unresolvable (drop)."""


class CitationBook:
    """Numbers cited URLs 1, 2, 3… in order of first citation within one answer."""

    def __init__(self) -> None:
        self._numbers: dict[str, int] = {}

    def cite(self, source: Source) -> Citation:
        """The citation event for ``source``, numbered by its first appearance."""
        number = self._numbers.setdefault(source.url, len(self._numbers) + 1)
        return Citation(url=source.url, title=source.title, number=number)


class AnswerCursor:
    """How far one growing answer field has been delivered; markers become Citation events.

    Each call reads only the field's text from ``offset`` on (what is new, plus a held-back
    marker start of at most ``_LONGEST_MARKER`` characters), so an answer is scanned once.
    """

    def __init__(self) -> None:
        self.offset = 0  # characters of the field consumed (delivered, or dropped as markers)
        self.held = False  # the last call kept text back (a possible or unresolved marker)
        self._waited = 0  # frames spent waiting for the current unresolved marker
        self._together: set[str] = set()  # URLs cited since the last text that was not whitespace

    def advance(
        self, content: Any, resolve: Resolver, book: CitationBook, *, final: bool
    ) -> list[StreamEvent]:
        """Events for the field ``content`` (``str`` or ``TextBuffer``) from ``offset`` on.

        ``final`` flushes held text and drops unknown markers.
        """
        window = text_since(content, self.offset) or ""
        out: list[StreamEvent] = []
        pos = start = 0
        while pos < len(window):
            bracket = window.find("[", pos)
            if bracket < 0:
                pos = len(window)
                break
            match = _MARKER.match(window, bracket)
            if match is None:
                if not final and _may_become_marker(window, bracket):
                    pos = bracket
                    break
                pos = bracket + 1
                continue
            sources = resolve(match.group(1), int(match.group(2)))
            if sources is None and not final and self._waited < MARKER_PATIENCE_FRAMES:
                self._waited += 1
                pos = bracket
                break
            self._text(out, window[start:bracket])
            # Unresolvable markers are dropped: a bare "[reference:3]" means nothing to a reader.
            for source in sources or ():
                if source.url not in self._together:
                    self._together.add(source.url)
                    out.append(book.cite(source))
            self._waited = 0
            pos = start = match.end()
        self._text(out, window[start:pos])
        self.offset += pos
        self.held = pos < len(window)
        return out

    def _text(self, out: list[StreamEvent], text: str) -> None:
        if text:  # never trimmed: whitespace-only pieces matter for Markdown
            out.append(TextDelta(text))
            if not text.isspace():
                self._together.clear()


def _may_become_marker(content: str, bracket: int) -> bool:
    tail = content[bracket + 1 :]
    if len(tail) + 1 >= _LONGEST_MARKER:
        return False
    for keyword in _KEYWORDS:
        if len(tail) <= len(keyword):
            if keyword.startswith(tail):
                return True
        elif tail.startswith(keyword) and tail[len(keyword) :].isascii() and tail[len(keyword) :].isdigit():
            return True
    return False


def search_result(raw: Any) -> SearchResult | None:
    """A search hit from its upstream object (``None`` without a URL)."""
    if not isinstance(raw, Mapping):
        return None
    url = raw.get("url")
    if not isinstance(url, str) or not url:
        return None
    published = raw.get("published_at")
    cite_index = raw.get("cite_index")
    site_name = raw.get("site_name")
    return SearchResult(
        url=url,
        title=_str(raw.get("title")),
        snippet=_str(raw.get("snippet")),
        site_name=site_name if isinstance(site_name, str) else None,
        published_at=float(published) if isinstance(published, int | float) else None,
        cite_index=cite_index if isinstance(cite_index, int) and not isinstance(cite_index, bool) else None,
    )


def search_results(raw: Any) -> tuple[SearchResult, ...]:
    """All usable hits of an upstream results list."""
    if not isinstance(raw, list):
        return ()
    return tuple(hit for hit in map(search_result, raw) if hit is not None)


def citation_index(results: Sequence[SearchResult]) -> dict[int, Source]:
    """``cite_index -> source`` for ``[citation:N]``; a hit without cite_index counts from 1."""
    index: dict[int, Source] = {}
    for position, hit in enumerate(results, start=1):
        index.setdefault(hit.cite_index if hit.cite_index is not None else position, _source(hit))
    return index


def _source(hit: SearchResult) -> Source:
    return Source(hit.url, hit.title)


def sources_of(results: Sequence[SearchResult]) -> list[Source]:
    """Sources for a citation of a whole search (generation 3 TOOL_SEARCH reference)."""
    return [_source(hit) for hit in results]


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
