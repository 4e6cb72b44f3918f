"""The tags of DeepSeek's tool-call markups, read tolerantly.

Two families reach us, whatever the prompt asked for (§6.4 of PROTOCOL.md):

* DSML, what V3.2 and V4 were trained on (official ``encoding_dsv32.py`` / ``encoding_dsv4.py``,
  2025-12 / 2026-04): ``<｜DSML｜function_calls>`` (V3.2) or ``<｜DSML｜tool_calls>`` (V4) around
  ``<｜DSML｜invoke name="…">`` elements holding ``<｜DSML｜parameter name="…" string="true|false">``.
* The V3/V3.1 markers: ``<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>[function<｜tool▁sep｜>]NAME
  <｜tool▁sep｜>ARGS<｜tool▁call▁end｜><｜tool▁calls▁end｜>``.

The web model drifts: full-width ``｜`` or ASCII ``|`` bars, a lost ``｜DSML｜`` token (``<tool_calls>``),
stray bars (``<|DSML|invoke|``), spaces, ``_`` for ``▁``, doubled ``<`` (DS2-go's list of seen drift,
``docs/toolcall-semantics.md``, 2026-05). So a tag is read by its *name* after dropping that noise:
``read_tag`` knows the names below and nothing else, and says when a tag is not finished yet so that
a stream can hold back exactly the text that may still become one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, Literal

# Normalised tag names (noise dropped, lower case).
WRAPPERS: Final = frozenset({"toolcalls", "functioncalls"})
INVOKE: Final = "invoke"
PARAMETER: Final = "parameter"
V3_BLOCK_BEGIN: Final = "toolcallsbegin"
V3_BLOCK_END: Final = "toolcallsend"
V3_CALL_BEGIN: Final = "toolcallbegin"
V3_CALL_END: Final = "toolcallend"
V3_SEP: Final = "toolsep"
V3_TAGS: Final = frozenset({V3_BLOCK_BEGIN, V3_BLOCK_END, V3_CALL_BEGIN, V3_CALL_END, V3_SEP})
KNOWN: Final = WRAPPERS | V3_TAGS | {INVOKE, PARAMETER}
# Opening tags that begin a block: a wrapper, or a call whose wrapper the model left out.
STARTS: Final = WRAPPERS | {INVOKE, V3_BLOCK_BEGIN, V3_CALL_BEGIN}
_WITH_ATTRIBUTES: Final = (INVOKE, PARAMETER)

MAX_TAG: Final = 256  # longer than any tag we read (an invoke tag carries one tool name)

_NOISE = re.compile(r"[\s|｜!！、_▁\-\x02␂]+")
_LEADING = " \t\r\n|｜!！、\x02␂"
_INNER = ("_", "▁", "-")
_ATTRIBUTE = re.compile(r"""([A-Za-z_][\w-]*)\s*=\s*(?:"([^"]*)"|“([^”]*)”|'([^']*)'|([^\s"'>|｜]+))""")

Incomplete = Literal["incomplete"]
INCOMPLETE: Final[Incomplete] = "incomplete"


@dataclass(frozen=True, slots=True)
class Tag:
    """One recognised tag: its normalised name, whether it closes, its attributes, where it ends."""

    name: str
    closing: bool
    end: int
    dsml: bool = False
    attributes: dict[str, str] = field(default_factory=dict)


def read_tag(text: str, start: int, *, final: bool, starts_only: bool = False) -> Tag | Incomplete | None:
    """The tag at ``text[start]`` (a ``<``), ``INCOMPLETE`` if the text ends before it can tell, or None.

    ``starts_only`` accepts only tags that open a block (and says INCOMPLETE only for those).
    ``final`` means no more text will come, so nothing is incomplete.
    """
    inner_start = start + 1
    while inner_start < len(text) and text[inner_start] == "<":
        inner_start += 1  # ``<<|DSML|tool_calls>``
    limit = min(len(text), start + MAX_TAG)
    close = _first_of(text, "<>", inner_start, limit)
    if close is None:
        if final or limit < len(text):
            return None
        return INCOMPLETE if _may_become_tag(text[inner_start:], starts_only) else None
    if text[close] == "<":
        return None
    tag = _parse_inner(text[inner_start:close], close + 1)
    if tag is None or (starts_only and (tag.closing or tag.name not in STARTS)):
        return None
    return tag


def normalise(head: str) -> str:
    """A tag head without noise, lower case: ``｜DSML｜tool▁calls`` -> ``dsmltoolcalls``."""
    return _NOISE.sub("", head).lower()


def _parse_inner(inner: str, end: int) -> Tag | None:
    first = _ATTRIBUTE.search(inner)
    head = inner[: first.start()] if first else inner
    attributes: dict[str, str] = {}
    if first:
        for match in _ATTRIBUTE.finditer(inner, first.start()):
            value = next(group for group in match.groups()[1:] if group is not None)
            attributes[match.group(1).lower()] = value
    closing = "/" in head
    name = normalise(head.replace("/", ""))
    dsml = name.startswith("dsml")
    if dsml:
        name = name[4:]
    if name not in KNOWN or (attributes and name not in _WITH_ATTRIBUTES):
        return None
    return Tag(name=name, closing=closing, end=end, dsml=dsml, attributes=attributes)


def _may_become_tag(partial: str, starts_only: bool) -> bool:
    """Whether an unfinished ``<…`` can still become a tag we read."""
    if starts_only and "/" in partial:
        return False
    head = partial.replace("/", "")
    if head.lstrip(_LEADING).startswith(_INNER):
        return False  # ``<-`` or ``<_``: joiners only ever stand inside a name
    cut = head.find("=")
    if cut >= 0:
        head = head[:cut]
    name = normalise(head)
    if name.startswith("dsml"):
        name = name[4:]
    elif "dsml".startswith(name):
        return True
    names = STARTS if starts_only else KNOWN
    if any(known.startswith(name) for known in names):
        return True
    # An invoke or parameter tag is followed by its attributes.
    return any(name.startswith(known) for known in _WITH_ATTRIBUTES if known in names)


def _first_of(text: str, chars: str, start: int, limit: int) -> int | None:
    hits = [i for c in chars if (i := text.find(c, start, limit)) >= 0]
    return min(hits) if hits else None
