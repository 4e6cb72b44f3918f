"""A script's answer to a prompt: its template filled in, and the tool call it makes, if any.

Placeholders in ``answer``, ``thinking``, ``fill`` and the text values of ``tool_calls.arguments``:

* ``{echo}``: the echo reply; ``{last_line}``: the last line of the last user turn;
* ``{json}``: the smallest JSON value valid against the JSON schema on the first line after the
  pattern's match that starts with ``{`` (before the next turn; the layout of a structured-output
  request, ``reading.schema_after``), or ``{"echo": "<last line>"}`` when there is none;
* ``{NAME}`` for every named group of the pattern (``(?P<city>\\w+)`` -> ``{city}``).

Other ``{…}`` text stays as it is, so answers may hold literal JSON. A script with ``tool_calls``
answers with a call, in DeepSeek's DSML markup (PROTOCOL.md §6.4), of the first declared tool whose
name one of them matches; the call's arguments are its ``arguments``, then every required parameter
they leave out: plain text parameters get ``fill`` when it is set, the others the smallest value
their schema accepts (``instances``). Without a declared tool to call, the script does not apply.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .config import ScriptedReply, ToolCallTemplate
from .instances import minimal_instance
from .reading import USER, declared_tools, last_turn, schema_after

DSML: Final = "｜DSML｜"  # full-width bars (U+FF5C), as V4 writes them
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class Values:
    """The placeholder values of one script applied to one prompt (``{json}`` made when asked)."""

    def __init__(self, echo: str, line: str, match: re.Match[str]) -> None:
        self._fixed: dict[str, Callable[[], str]] = {
            "echo": lambda: echo,
            "last_line": lambda: line,
            "json": lambda: _json_answer(match, line),
        }
        self._groups = {name: value or "" for name, value in match.groupdict().items()}

    def get(self, name: str) -> str | None:
        """The value of ``{name}``; None for a name that is no placeholder."""
        made = self._fixed.get(name)
        if made is not None:
            return made()
        return self._groups.get(name)

    def render(self, template: str) -> str:
        """``template`` with its placeholders replaced (one pass: values are not read again)."""

        def value(match: re.Match[str]) -> str:
            found = self.get(match.group(1))
            return match.group(0) if found is None else found

        return _PLACEHOLDER.sub(value, template)

    def render_value(self, value: object) -> object:
        """Text rendered as a template, inside lists and tables too; other values as they are."""
        if isinstance(value, str):
            return self.render(value)
        if isinstance(value, list):
            return [self.render_value(item) for item in value]
        if isinstance(value, Mapping):
            return {key: self.render_value(item) for key, item in value.items()}
        return value


@dataclass(frozen=True, slots=True)
class Applied:
    """What a script answers to one prompt: its texts filled in, and the call markup ("" for none)."""

    answer: str
    call: str
    thinking: str | None


def match_script(
    script: ScriptedReply, prompt: str, echo: str, line: str, context: str = ""
) -> Applied | None:
    """The script's answer when it applies to ``prompt`` (after ``context``, for scope "session")."""
    if script.scope == "session":
        text = context + USER + prompt if context else prompt
    else:
        text = last_turn(prompt) if script.scope == "last_turn" else prompt
    match = re.search(script.pattern, text)
    if match is None:
        return None
    values = Values(echo, line, match)
    call = ""
    if script.tool_calls:
        made = tool_call(script.tool_calls, declared_tools(prompt), values)
        if made is None:
            return None
        call = made
    thinking = values.render(script.thinking) if script.thinking is not None else None
    return Applied(values.render(script.answer), call, thinking)


def tool_call(
    templates: Sequence[ToolCallTemplate], tools: Mapping[str, Mapping[str, Any]], values: Values
) -> str | None:
    """The DSML call of the first template whose tool is declared; None when none is."""
    for template in templates:
        name = next((name for name in tools if re.fullmatch(template.tool, name)), None)
        if name is None:
            continue
        arguments = {key: values.render_value(value) for key, value in template.arguments.items()}
        schema = tools[name]
        properties = schema.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        for key in schema.get("required") or ():
            if not isinstance(key, str) or key in arguments:
                continue
            wanted = properties.get(key, {})
            if template.fill is not None and _plain_text(wanted):
                arguments[key] = values.render(template.fill)
            else:
                arguments[key] = minimal_instance(wanted, schema)
        return dsml_call(name, arguments)
    return None


def dsml_call(name: str, arguments: Mapping[str, object]) -> str:
    """One call as V4 writes it: text parameters as they are, other values as JSON."""
    lines = [f"<{DSML}tool_calls>", f'<{DSML}invoke name="{name}">']
    for key, value in arguments.items():
        if isinstance(value, str):
            lines.append(f'<{DSML}parameter name="{key}" string="true">{value}</{DSML}parameter>')
        else:
            text = json.dumps(value, ensure_ascii=False)
            lines.append(f'<{DSML}parameter name="{key}" string="false">{text}</{DSML}parameter>')
    lines += [f"</{DSML}invoke>", f"</{DSML}tool_calls>"]
    return "\n".join(lines)


def _plain_text(schema: object) -> bool:
    """A parameter any text fits: type string, no enum or const."""
    return (
        isinstance(schema, Mapping)
        and schema.get("type") == "string"
        and "enum" not in schema
        and "const" not in schema
    )


def _json_answer(match: re.Match[str], line: str) -> str:
    schema = schema_after(match.string, match.end())
    value = minimal_instance(schema) if schema is not None else {"echo": line}
    return json.dumps(value, ensure_ascii=False)
