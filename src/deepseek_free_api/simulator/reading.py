"""What the simulated model reads in a prompt beyond its words: turns, declared tools, a schema.

A gateway folds a conversation into one prompt (PROTOCOL.md §6.1): instructions first, then turns
opened by ``<｜User｜>`` and ``<｜Assistant｜>``. Tools are offered in the instructions as one JSON
object per line (``{"name": …, "description": …, "parameters": {…}}``, the layout of this project's
server and of DeepSeek's own templates, PROTOCOL.md §6.4), and a structured answer is asked for with
its JSON schema on a line of its own. Scripted replies read these to answer as a model would: call
a tool that is offered, or answer JSON that fits the schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

USER: Final = "<｜User｜>"
ASSISTANT: Final = "<｜Assistant｜>"
_MARKER = re.compile(r"<｜[^｜]*｜>")
_TOOL_LINE = re.compile(r'^\{\s*"name"\s*:', re.MULTILINE)
_OBJECT_LINE = re.compile(r"^\{", re.MULTILINE)
_DECODER = json.JSONDecoder()


def last_turn(prompt: str) -> str:
    """The last user turn of a folded prompt (all of it when it has no turns), markers removed."""
    text = prompt.rsplit(USER, 1)[-1]
    text = text.split(ASSISTANT, 1)[0]
    return _MARKER.sub("", text)


def instructions(prompt: str) -> str:
    """The text before the first turn: where a gateway puts system text and tool instructions."""
    return prompt.split(USER, 1)[0] if USER in prompt else ""


def declared_tools(prompt: str) -> dict[str, Mapping[str, Any]]:
    """The tools the prompt's instructions offer, by name, with their parameter schemas, in order."""
    text = instructions(prompt)
    tools: dict[str, Mapping[str, Any]] = {}
    for match in _TOOL_LINE.finditer(text):
        entry = _object_at(text, match.start())
        if entry is None or not isinstance(entry.get("name"), str):
            continue
        parameters = entry.get("parameters", entry.get("input_schema"))
        tools.setdefault(entry["name"], parameters if isinstance(parameters, Mapping) else {})
    return tools


def schema_after(text: str, start: int) -> Mapping[str, Any] | None:
    """The JSON object on the first line after ``start`` that begins with one, before the next turn."""
    end = text.find(USER, start)
    region = text[: end if end >= 0 else len(text)]
    match = _OBJECT_LINE.search(region, start)
    return _object_at(region, match.start()) if match else None


def _object_at(text: str, index: int) -> dict[str, Any] | None:
    try:
        value, _ = _DECODER.raw_decode(text, index)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
        return None
    return value if isinstance(value, dict) else None
