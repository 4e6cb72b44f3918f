"""Splitting a streamed answer into plain text and tool-call blocks, piece by piece.

The scanner holds back only text that may still become the start of a block (an unfinished tag
after a ``<``); everything else goes out as soon as it arrives. A block is any run of calls in
either markup family (see ``markup``), with or without its wrapper; it ends at its closing wrapper,
or at the first text after a complete call that is not more markup. Text in Markdown code (fenced
blocks and inline spans) is never a call: it shows markup, it does not use it.

What a block *means* (tool names, arguments) is decided by the caller; the scanner only records
its structure: each call's name attribute, parameters, and for the V3 markers the pieces between
``tool▁sep`` markers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from deepseek_free_api.chat.tools.markdown import MarkdownState
from deepseek_free_api.chat.tools.markup import (
    INCOMPLETE,
    INVOKE,
    PARAMETER,
    V3_BLOCK_BEGIN,
    V3_BLOCK_END,
    V3_CALL_BEGIN,
    V3_CALL_END,
    V3_SEP,
    WRAPPERS,
    Tag,
    read_tag,
)


@dataclass(frozen=True, slots=True)
class Parameter:
    """A DSML parameter as written: its name, its ``string`` attribute, its raw value."""

    name: str
    string: str | None
    value: str


@dataclass(frozen=True, slots=True)
class CallMarkup:
    """One call as written: a DSML invoke (name, parameters, body) or a V3 call (``parts``)."""

    name: str | None
    parameters: tuple[Parameter, ...] = ()
    body: str = ""
    parts: tuple[str, ...] = ()
    v3: bool = False


@dataclass(frozen=True, slots=True)
class Block:
    """A tool-call block: its raw text and the calls found complete in it."""

    raw: str
    calls: tuple[CallMarkup, ...]
    complete: bool = True  # False when the answer ended inside the block


Piece = str | Block

_NON_SPACE = re.compile(r"\S")


@dataclass(slots=True)
class _OpenCall:
    v3: bool
    start: int
    name: str | None = None
    parameters: list[Parameter] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    part_start: int = 0

    def close(self, text: str, end: int) -> CallMarkup:
        body = text[self.start : end]
        if self.v3:
            return CallMarkup(None, parts=(*self.parts, text[self.part_start : end]), body=body, v3=True)
        return CallMarkup(self.name, tuple(self.parameters), body=body)


@dataclass(slots=True)
class _OpenParameter:
    name: str
    string: str | None
    start: int


class MarkupScanner:
    """Streaming splitter: ``feed`` pieces of the answer, get plain text and complete blocks."""

    def __init__(self) -> None:
        self._markdown = MarkdownState()
        self._pending = ""  # held back: may be the start of a block
        self._block: str | None = None
        self._reset_block()

    def feed(self, text: str) -> list[Piece]:
        """The next piece of the answer -> what can be said about it now."""
        out: list[Piece] = []
        self._run(text, False, out)
        return out

    def finish(self) -> list[Piece]:
        """The end of the answer: held text is text; a block cut short is returned as it is."""
        out: list[Piece] = []
        self._run("", True, out)
        block = self._block
        if block is not None:
            if self._call is not None or self._param is not None:
                out.append(Block(block, tuple(self._calls), complete=False))
            elif self._calls:  # only whitespace after the last call
                out.append(Block(block[: self._end_ok], tuple(self._calls)))
                if block[self._end_ok :]:
                    out.append(block[self._end_ok :])
            elif block:  # a wrapper and nothing in it: it was only mentioned
                out.append(block)
            self._block = None
            self._reset_block()
        return out

    @property
    def holding(self) -> bool:
        """Whether text is held back (a possible start, or a block in progress)."""
        return bool(self._pending) or self._block is not None

    def _run(self, text: str, final: bool, out: list[Piece]) -> None:
        while True:
            if self._block is not None:
                self._block += text
                rest = self._advance_block(final, out)
                if rest is None:
                    return
                text = rest
            else:
                text, self._pending = self._pending + text, ""
                start = self._scan_text(text, final, out)
                if start is None:
                    return
                self._block = ""
                text = text[start:]

    # -- plain text ---------------------------------------------------------------------------

    def _scan_text(self, text: str, final: bool, out: list[Piece]) -> int | None:
        """Pass plain text on; the offset where a block starts, or None when all is consumed/held."""
        done = 0
        search = 0
        while True:
            lt = text.find("<", search)
            if lt < 0:
                self._markdown.feed(text, search, len(text))
                break
            self._markdown.feed(text, search, lt + 1)  # feeding a ``<`` again later changes nothing
            search = lt + 1
            if self._markdown.in_code:
                continue
            tag = read_tag(text, lt, final=final, starts_only=True)
            if tag is None:
                continue
            if lt > done:
                out.append(text[done:lt])
            if tag == INCOMPLETE:
                self._pending = text[lt:]
                return None
            self._markdown.mid_line()
            return lt
        if len(text) > done:
            out.append(text[done:])
        return None

    # -- inside a block -----------------------------------------------------------------------

    def _reset_block(self) -> None:
        self._pos = 0
        self._first_end = 0  # end of the tag that started the block
        self._wrapped = False
        self._calls: list[CallMarkup] = []
        self._end_ok = 0  # end of the last complete call
        self._call: _OpenCall | None = None
        self._param: _OpenParameter | None = None

    def _advance_block(self, final: bool, out: list[Piece]) -> str | None:
        """Scan the block further; the text after it once it has ended, else None."""
        end = self._scan_block(final)
        if end is None:
            return None
        block = self._block or ""
        if end < 0:  # not a block after all: its first tag was only mentioned
            out.append(block[: self._first_end])
            rest = block[self._first_end :]
        else:
            out.append(Block(block[:end], tuple(self._calls)))
            rest = block[end:]
        self._block = None
        self._reset_block()
        return rest

    def _scan_block(self, final: bool) -> int | None:
        """Where the block ends (-1: it is no block), or None to wait for more text."""
        text = self._block or ""
        while True:
            if self._param is not None or self._call is not None:
                lt = text.find("<", self._pos)
                if lt < 0:
                    self._pos = len(text)
                    return None
                tag = read_tag(text, lt, final=final)
                if tag == INCOMPLETE:
                    self._pos = lt
                    return None
                self._pos = lt + 1
                if isinstance(tag, Tag):
                    end = self._in_call(text, lt, tag)
                    if end is not None:
                        return end
                continue
            match = _NON_SPACE.search(text, self._pos)
            if match is None:
                self._pos = len(text)
                return None
            at = match.start()
            tag = read_tag(text, at, final=final) if text[at] == "<" else None
            if tag == INCOMPLETE:
                self._pos = at
                return None
            if not isinstance(tag, Tag):
                return self._end_ok if self._calls else -1
            if not self._first_end:
                self._first_end = tag.end
            end = self._top_level(text, at, tag)
            if end is not None:
                return end

    def _top_level(self, text: str, at: int, tag: Tag) -> int | None:
        self._pos = tag.end
        if tag.name in WRAPPERS or tag.name in (V3_BLOCK_BEGIN, V3_BLOCK_END):
            opening = not tag.closing and tag.name != V3_BLOCK_END
            if not opening:
                return tag.end
            if self._calls:
                return self._end_ok  # a second block begins: the caller reads it as such
            self._wrapped = True
        elif tag.name == INVOKE and not tag.closing:
            self._call = _OpenCall(v3=False, start=tag.end, name=tag.attributes.get("name"))
        elif tag.name == V3_CALL_BEGIN and not tag.closing:
            self._call = _OpenCall(v3=True, start=tag.end, part_start=tag.end)
        elif not (tag.name == V3_CALL_END or (tag.closing and tag.name == INVOKE)):
            return self._end_ok if self._calls else -1  # (a stray call end is skipped)
        return None

    def _in_call(self, text: str, lt: int, tag: Tag) -> int | None:
        call = self._call
        assert call is not None
        param = self._param
        if param is not None:
            # Only the parameter's own end closes it; a value may hold any other text. A model that
            # forgot ``</parameter>`` is caught by the next DSML parameter or invoke end.
            ends = tag.name == PARAMETER and tag.closing
            if not ends and not (tag.dsml and tag.name in (PARAMETER, INVOKE)):
                return None
            call.parameters.append(Parameter(param.name, param.string, text[param.start : lt]))
            self._param = None
            if ends:
                self._pos = tag.end
                return None
        block_end = (tag.closing and tag.name in WRAPPERS) or tag.name == V3_BLOCK_END
        if call.v3:
            if tag.name == V3_SEP:
                call.parts.append(text[call.part_start : lt])
                call.part_start = self._pos = tag.end
            elif tag.name in (V3_CALL_END, V3_CALL_BEGIN) or block_end:
                self._close_call(text, lt, tag, reopen=tag.name == V3_CALL_BEGIN)
        elif tag.name == PARAMETER and not tag.closing:
            attributes = tag.attributes
            self._param = _OpenParameter(attributes.get("name", ""), attributes.get("string"), tag.end)
            self._pos = tag.end
        elif tag.name == INVOKE or block_end:
            self._close_call(text, lt, tag, reopen=not tag.closing and tag.name == INVOKE)
        return tag.end if block_end else None

    def _close_call(self, text: str, lt: int, tag: Tag, *, reopen: bool) -> None:
        call = self._call
        assert call is not None
        self._calls.append(call.close(text, lt))
        proper_end = tag.closing and tag.name in (INVOKE, V3_CALL_END)
        self._end_ok = tag.end if proper_end else lt
        self._pos = tag.end
        self._call = None
        if reopen:
            if tag.name == INVOKE:
                self._call = _OpenCall(v3=False, start=tag.end, name=tag.attributes.get("name"))
            else:
                self._call = _OpenCall(v3=True, start=tag.end, part_start=tag.end)
