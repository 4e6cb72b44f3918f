"""Semantic layers: what a DeepSeek response state means, per stream generation.

Generations 2 and 3 are read from the patch engine's state tree (``PatchState.tree``) when the
decoder asks: a layer compares each text field with how much of it was already delivered (per
fragment id and type) and reads only the rest, so a ``chat/continue`` snapshot that repeats the
answer so far yields nothing twice and a long answer is never re-read. Generation 1 (OpenAI-like
chunks, until 2025-07-14) is read chunk by chunk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import attrgetter
from typing import Any

from deepseek_free_api.upstream.citations import (
    AnswerCursor,
    CitationBook,
    Source,
    citation_index,
    search_results,
    sources_of,
)
from deepseek_free_api.upstream.events import ReasoningDelta, SearchResults, StreamEvent
from deepseek_free_api.upstream.patch import TextBuffer, text_since

_SEARCH_TYPES = frozenset({"TOOL_SEARCH", "SEARCH"})  # SEARCH: mid-2026 name (sums001 PR #4, 2026-07)
# Between THINK fragments (a search or page reads sit between them, stage_id grows; PROTOCOL.md
# §5.5 d): they are separate blocks in the web UI and no source names a joining text, so a blank
# line keeps them separate paragraphs in Markdown instead of running sentences together.
THINK_SEPARATOR = "\n\n"
_HELD = attrgetter("held")  # of an AnswerCursor; with map(), no generator call per read
_Fragments = list[tuple[int, Mapping[str, Any]]]  # (position, fragment) of the fragments that are objects
_Key = tuple[object, str]  # a fragment's id (or "#position") and type


class Gen3Layer:
    """Generation 3: ``response.fragments`` (THINK, RESPONSE, TOOL_SEARCH/SEARCH, TOOL_OPEN, TIP…)."""

    def __init__(self, book: CitationBook) -> None:
        self._book = book
        self._reasoning: dict[_Key, int] = {}
        self._answers: dict[_Key, AnswerCursor] = {}
        self._searches: dict[_Key, int] = {}
        self.holding = False  # an answer cursor keeps text back for the next frame
        # The THINK and RESPONSE texts of the last full read, by key (and, for an answer, its
        # citation resolver): while only one of them grows, reading it alone is a full read.
        self._texts: dict[TextBuffer, tuple[_Key, _ReferenceResolver | None]] = {}
        # Those still plain strings then: the first APPEND turns one into a TextBuffer.
        self._strings: list[tuple[Mapping[str, Any], _Key, _ReferenceResolver | None]] = []

    def events(self, response: Mapping[str, Any], *, final: bool) -> list[StreamEvent]:
        """Everything new in the fragments since the last call."""
        fragments = _fragments(response)
        out: list[StreamEvent] = []
        texts: dict[TextBuffer, tuple[_Key, _ReferenceResolver | None]] = {}
        strings: list[tuple[Mapping[str, Any], _Key, _ReferenceResolver | None]] = []
        keys: set[_Key] = set()
        for position, fragment in fragments:
            kind = fragment.get("type")
            key = (fragment["id"] if "id" in fragment else f"#{position}", str(kind))
            keys.add(key)
            content = fragment.get("content")
            if kind == "THINK":
                self._think(key, content, out)
                if type(content) is TextBuffer:
                    texts[content] = (key, None)
                elif type(content) is str:
                    strings.append((fragment, key, None))
            elif kind == "RESPONSE" and isinstance(content, str | TextBuffer):
                cursor = self._answers.setdefault(key, AnswerCursor())
                resolve = _ReferenceResolver(fragment, fragments)
                out += cursor.advance(content, resolve, self._book, final=final)
                if type(content) is TextBuffer:
                    texts[content] = (key, resolve)
                else:
                    strings.append((fragment, key, resolve))
            elif kind in _SEARCH_TYPES:
                raw = fragment.get("results")
                # Compare sizes before converting: this runs after every frame of the stream.
                if isinstance(raw, list) and raw and len(raw) != self._searches.get(key):
                    self._searches[key] = len(raw)
                    hits = search_results(raw)
                    if hits:
                        out.append(SearchResults(hits, _queries(fragment.get("queries"))))
            # TOOL_OPEN stays in the tree for citations; TIP is a UI footnote ("AI-generated…"),
            # TEMPLATE_RESPONSE only matters for Finish (read by the decoder), never answer text.
        # Fragments sharing an id and type share what was delivered: only a full read is right.
        unique = len(keys) == len(fragments)
        self._texts, self._strings = (texts, strings) if unique else ({}, [])
        self.holding = any(map(_HELD, self._answers.values()))
        return out

    def grown(self, text: TextBuffer) -> list[StreamEvent] | None:
        """What ``events`` would give when nothing but ``text`` changed since the last call.

        ``None`` when ``text`` is no THINK or RESPONSE text of that call (the caller reads
        everything). The caller vouches that only appends to ``text`` happened since, and calls
        ``forget`` whenever the state changed in any other way without a call to ``events``.
        """
        found = self._texts.get(text)
        if found is None:
            # A string of the last read that the first APPEND since made this TextBuffer.
            found = next(
                ((key, how) for fragment, key, how in self._strings if fragment.get("content") is text), None
            )
            if found is None:
                return None
            self._texts[text] = found
        key, resolve = found
        out: list[StreamEvent] = []
        if resolve is None:
            self._think(key, text, out)
        else:
            out += self._answers[key].advance(text, resolve, self._book, final=False)
            self.holding = any(map(_HELD, self._answers.values()))
        return out

    def forget(self) -> None:
        """The state changed without ``events`` reading it: ``grown`` knows nothing until it does."""
        self._texts, self._strings = {}, []

    def _think(self, key: _Key, content: Any, out: list[StreamEvent]) -> None:
        delivered = self._reasoning.get(key, 0)
        new = text_since(content, delivered)
        if new:
            starts_block = key not in self._reasoning and any(self._reasoning.values())
            out.append(ReasoningDelta(THINK_SEPARATOR + new if starts_block else new))
            self._reasoning[key] = delivered + len(new)

    @staticmethod
    def template(response: Mapping[str, Any]) -> str | None:
        """The canned refusal that replaced the answer on CONTENT_FILTER, if present."""
        for _, fragment in reversed(_fragments(response)):
            content = text_since(fragment.get("content"), 0)
            if fragment.get("type") == "TEMPLATE_RESPONSE" and content is not None:
                return content
        return None


class _ReferenceResolver:
    """``[reference:N]``: entry N of the RESPONSE fragment's ``references`` -> fragment -> URLs."""

    def __init__(self, fragment: Mapping[str, Any], fragments: _Fragments) -> None:
        self._fragment = fragment
        self._fragments = fragments

    def __call__(self, kind: str, number: int) -> Sequence[Source] | None:
        if kind != "reference":
            return []
        references = self._fragment.get("references")
        references = references if isinstance(references, list) else []
        if number >= len(references):
            return None  # the entry may come with the next frame
        entry = references[number]
        wanted = entry.get("id") if isinstance(entry, Mapping) else None
        target = next(
            (item for _, item in self._fragments if wanted is not None and item.get("id") == wanted), None
        )
        if target is None:
            return []
        if target.get("type") == "TOOL_OPEN":
            result = target.get("result")
            if isinstance(result, Mapping) and isinstance(result.get("url"), str) and result["url"]:
                title = result.get("title")
                return [Source(result["url"], title if isinstance(title, str) else "")]
            return []
        if target.get("type") in _SEARCH_TYPES:
            # The entry names a whole search, not one hit: every hit of it is a source.
            return sources_of(search_results(target.get("results")))
        return []


class Gen2Layer:
    """Generation 2: ``response.thinking_content``, ``response.content``, ``response.search_results``."""

    def __init__(self, book: CitationBook) -> None:
        self._book = book
        self._reasoning = 0
        self._answer = AnswerCursor()
        self._search_count = 0
        self._cite: dict[int, Source] = {}
        # The two text fields as the last ``events`` call saw them (see ``grown``).
        self._thinking: object = None
        self._content: object = None

    @property
    def holding(self) -> bool:
        """The answer cursor keeps text back for the next frame."""
        return self._answer.held

    def events(self, response: Mapping[str, Any], *, final: bool) -> list[StreamEvent]:
        """Everything new in the response fields since the last call."""
        out: list[StreamEvent] = []
        raw = response.get("search_results")
        if isinstance(raw, list) and raw and len(raw) != self._search_count:
            self._search_count = len(raw)
            hits = search_results(raw)
            self._cite = citation_index(hits)
            if hits:
                out.append(SearchResults(hits))
        self._thinking = response.get("thinking_content")
        self._reasoning_since(self._thinking, out)
        content = self._content = response.get("content")
        if isinstance(content, str | TextBuffer):
            out += self._answer.advance(content, self._resolve, self._book, final=final)
        return out

    def grown(self, text: TextBuffer) -> list[StreamEvent] | None:
        """What ``events`` would give when nothing but ``text`` changed since the last call.

        ``None`` when ``text`` is neither text field of that call. The caller vouches as for
        ``Gen3Layer.grown``.
        """
        out: list[StreamEvent] = []
        if text is self._thinking:
            self._reasoning_since(text, out)
        elif text is self._content:
            out += self._answer.advance(text, self._resolve, self._book, final=False)
        else:
            return None
        return out

    def forget(self) -> None:
        """The state changed without ``events`` reading it: ``grown`` knows nothing until it does."""
        self._thinking = self._content = None

    def _reasoning_since(self, field: Any, out: list[StreamEvent]) -> None:
        thinking = text_since(field, self._reasoning)
        if thinking:
            out.append(ReasoningDelta(thinking))
            self._reasoning += len(thinking)

    def _resolve(self, kind: str, number: int) -> Sequence[Source]:
        return _cited(self._cite, kind, number)


class Gen1Layer:
    """Generation 1: ``choices[0].delta`` chunks typed thinking / text / search_result / search_index."""

    def __init__(self, book: CitationBook) -> None:
        self._book = book
        self._content = TextBuffer()  # the answer so far, so markers split across chunks are seen whole
        self._answer = AnswerCursor()
        self._cite: dict[int, Source] = {}

    def events(self, delta: Mapping[str, Any]) -> list[StreamEvent]:
        """Events of one chunk's delta."""
        kind = delta.get("type")
        content = delta.get("content")
        if kind == "thinking" and isinstance(content, str) and content:
            return [ReasoningDelta(content)]
        if kind == "search_result":
            hits = search_results(delta.get("search_results"))
            self._cite.update(citation_index(hits))
            return [SearchResults(hits)] if hits else []
        if kind == "search_index":
            self._index(delta.get("search_indexes"))
            return []
        if isinstance(content, str) and content:  # "text", or untyped in the earliest chunks
            self._content.append(content)
            return self._answer.advance(self._content, self._resolve, self._book, final=False)
        return []

    def flush(self) -> list[StreamEvent]:
        """Held-back text at the end of the answer."""
        return self._answer.advance(self._content, self._resolve, self._book, final=True)

    def _index(self, raw: Any) -> None:
        titles = {source.url: source.title for source in self._cite.values()}
        for item in raw if isinstance(raw, list) else ():
            if isinstance(item, Mapping) and isinstance(item.get("cite_index"), int):
                url = item.get("url")
                if isinstance(url, str) and url:
                    self._cite[item["cite_index"]] = Source(url, titles.get(url, ""))

    def _resolve(self, kind: str, number: int) -> Sequence[Source]:
        return _cited(self._cite, kind, number)


def _cited(index: Mapping[int, Source], kind: str, number: int) -> Sequence[Source]:
    """``[citation:N]`` of generations 1 and 2: the source with cite_index N, if any."""
    source = index.get(number) if kind == "citation" else None
    return [source] if source else []


def _fragments(response: Mapping[str, Any]) -> _Fragments:
    """``(position, fragment)`` pairs; positions key fragments that carry no id."""
    fragments = response.get("fragments")
    if not isinstance(fragments, list):
        return []
    return [(position, item) for position, item in enumerate(fragments) if isinstance(item, dict)]


def _queries(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(
        item["query"] for item in raw if isinstance(item, Mapping) and isinstance(item.get("query"), str)
    )
