"""Earlier calls and their results, written back into the prompt in the format the model calls in.

An assistant message's calls become the DSML block it would have written (so the next turn shows
the model its own convention, and it keeps to it); a tool result is wrapped in ``<tool_result>``,
as DeepSeek V4's own template does (``encoding_dsv4.py``, 2026), with the tool's name so that
parallel results are told apart. Plug both into ``chat.prompt.fold_messages``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final

from deepseek_free_api.chat.request import ChatMessage, ToolCall
from deepseek_free_api.json_text import parse_json

DSML: Final = "｜DSML｜"  # full-width bars (U+FF5C), as in DeepSeek's templates
BLOCK: Final = "tool_calls"  # V4's wrapper name (V3.2 said "function_calls"; both are read)


def render_tool_calls(calls: Sequence[ToolCall]) -> str:
    """Assistant calls as one DSML block."""
    invokes = "\n".join(_invoke(call) for call in calls)
    return f"<{DSML}{BLOCK}>\n{invokes}\n</{DSML}{BLOCK}>"


def render_tool_result(message: ChatMessage) -> str:
    """A ``tool`` message as a delimited result, naming the tool when the caller did."""
    name = f' name="{_attribute(message.name)}"' if message.name else ""
    return f"<tool_result{name}>{message.text or '(empty)'}</tool_result>"


def render_parameter(name: str, value: object) -> str:
    """One DSML parameter: text as it is (``string="true"``), anything else as JSON."""
    if isinstance(value, str):
        return f'<{DSML}parameter name="{_attribute(name)}" string="true">{value}</{DSML}parameter>'
    text = json.dumps(value, ensure_ascii=False)
    return f'<{DSML}parameter name="{_attribute(name)}" string="false">{text}</{DSML}parameter>'


def _invoke(call: ToolCall) -> str:
    try:
        arguments = parse_json(call.arguments) if call.arguments.strip() else {}
    except ValueError:  # not JSON, or nested too deep: shown as written
        arguments = None
    if isinstance(arguments, dict):
        body = "".join(f"{render_parameter(key, value)}\n" for key, value in arguments.items())
    else:  # not an object: shown as written, which the parser also reads back
        body = f"{call.arguments}\n"
    return f'<{DSML}invoke name="{_attribute(call.name)}">\n{body}</{DSML}invoke>'


def _attribute(value: str) -> str:
    return value.replace('"', "'")
