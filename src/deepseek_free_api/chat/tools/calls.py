"""From a call as written to a call a client can run: the declared tool and its arguments as JSON.

A DSML parameter marked ``string="true"`` is text as written; ``string="false"`` is JSON; without the
attribute the tool's schema decides. A V3 call's arguments are one JSON object, possibly in a
```` ```json ```` fence. Then names are matched against the declared tools and the arguments are made
to fit each tool's schema (``schema.conform``); a call that cannot be made to fit is rejected, with
the reason, rather than sent to a client that would fail on it. Reasons name parameters and types,
never the values written (they are logged and told to the model in the repair round).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from deepseek_free_api.chat.request import ToolSpec
from deepseek_free_api.chat.tools.scanner import CallMarkup, Parameter
from deepseek_free_api.chat.tools.schema import conform
from deepseek_free_api.json_text import parse_json

_FENCE = re.compile(r"^\s*(`{3,}|~{3,})[\w-]*[ \t]*\n?(.*?)\n?[ \t]*\1\s*$", re.S)
_CDATA = re.compile(r"^\s*<!\[CDATA\[(.*)\]\]>\s*$", re.S)
_PREFIXES = ("functions.", "function.", "tools.", "tool.")
CHECK_TIME_LIMIT_S = 1.0  # checking one call's arguments; its step budget bounds it as well
_REASONS_SHOWN = 5  # of one call's schema errors: enough to repair it, short enough to log
_NAME_SHOWN = 80  # of a name that is no declared tool, in the reason


@dataclass(frozen=True, slots=True)
class Resolved:
    """A call that fits a declared tool: its name and its arguments as a JSON object."""

    name: str
    arguments: dict[str, Any]

    @property
    def arguments_json(self) -> str:
        """The arguments as JSON text, as clients receive them."""
        return json.dumps(self.arguments, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A call the model wrote that cannot be sent: which tool it named and why it was refused.

    ``arguments`` are what could be read of them (None: nothing); ``declared`` says whether ``name``
    is an allowed tool (then it is that tool's own spelling).
    """

    name: str | None
    reason: str
    arguments: dict[str, Any] | None = field(default=None, repr=False)
    declared: bool = False


class ToolBox:
    """The tools a request allows, and the checks a written call must pass to use one."""

    def __init__(self, tools: Sequence[ToolSpec], allowed: Sequence[str] | None = None) -> None:
        names = set(allowed) if allowed is not None else None
        self._tools = {tool.name: tool for tool in tools if names is None or tool.name in names}
        self._folded = {name.casefold(): name for name in self._tools}

    def resolve(self, markup: CallMarkup) -> Resolved | Rejected:
        """Check one written call."""
        written, arguments = _read_v3(markup) if markup.v3 else _read_dsml(markup)
        if written is None or not written.strip():
            return Rejected(None, "the call names no tool")
        name = self._name(written.strip())
        readable = arguments if isinstance(arguments, dict) else None
        if name is None:
            shown = _clipped(written.strip())
            return Rejected(written.strip(), f"'{shown}' is not one of the declared tools", readable)
        if isinstance(arguments, str):
            return Rejected(name, arguments, declared=True)
        schema = self._tools[name].parameters
        if not schema:
            return Resolved(name, arguments)
        fitted, errors = conform(arguments, schema, time_limit_s=CHECK_TIME_LIMIT_S, show_values=False)
        if errors:
            best = fitted if isinstance(fitted, dict) else arguments
            return Rejected(name, "; ".join(errors[:_REASONS_SHOWN]), best, declared=True)
        assert isinstance(fitted, dict)
        return Resolved(name, fitted)

    def _name(self, written: str) -> str | None:
        """The declared tool meant: exact, then ignoring case, then without a ``functions.`` prefix."""
        for candidate in (written, *(written[len(p) :] for p in _PREFIXES if written.startswith(p))):
            if candidate in self._tools:
                return candidate
            if candidate.casefold() in self._folded:
                return self._folded[candidate.casefold()]
        return None


def _read_dsml(markup: CallMarkup) -> tuple[str | None, dict[str, Any] | str]:
    if not markup.parameters:
        body = markup.body.strip()
        if not body:
            return markup.name, {}
        # Near miss: the arguments written as one JSON object instead of parameters.
        return markup.name, _json_object(_unfence(body))
    arguments: dict[str, Any] = {}
    for parameter in markup.parameters:
        if not parameter.name:
            return markup.name, "a parameter has no name"
        arguments[parameter.name] = _value(parameter)
    return markup.name, arguments


def _value(parameter: Parameter) -> object:
    raw = parameter.value
    cdata = _CDATA.match(raw)
    if cdata:
        return cdata.group(1)
    marked = (parameter.string or "").strip().lower()
    if marked == "true":
        return raw
    text = raw.strip()
    if marked == "false":
        try:
            return parse_json(text)
        except ValueError:  # not JSON, or nested too deep
            return text  # the schema may still make sense of it (``conform``)
    return raw  # unmarked: text, which ``conform`` converts when the schema asks for another type


def _read_v3(markup: CallMarkup) -> tuple[str | None, dict[str, Any] | str]:
    parts = [part.strip() for part in markup.parts]
    if len(parts) > 1 and parts[0].lower() == "function":
        parts = parts[1:]  # V3 writes the call type first
    if len(parts) == 1:  # ``NAME\n```json {…}```: the name and the arguments on separate lines
        name, _, arguments = parts[0].partition("\n")
    else:
        name, arguments = parts[0], "".join(parts[1:])
    return name, (_json_object(_unfence(arguments.strip())) if arguments.strip() else {})


def _clipped(name: str) -> str:
    return name if len(name) <= _NAME_SHOWN else name[: _NAME_SHOWN - 3] + "..."


def _unfence(text: str) -> str:
    fenced = _FENCE.match(text)
    return fenced.group(2) if fenced else text


def _json_object(text: str) -> dict[str, Any] | str:
    try:
        value = parse_json(text)
    except json.JSONDecodeError as exc:
        return f"the arguments are not valid JSON ({exc.msg} at character {exc.pos})"
    except ValueError:  # a number too long for Python, or nesting too deep
        return "the arguments are JSON this server cannot read (a number too long or nesting too deep)"
    if not isinstance(value, dict):
        return "the arguments are not a JSON object"
    return value
