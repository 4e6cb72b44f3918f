"""The prompt text that offers the declared tools to the model and tells it how to call them.

Why DSML, in DeepSeek V4's spelling (``<｜DSML｜tool_calls>`` / ``invoke`` / ``parameter string=…``):

* It is what the models behind the web chat were trained on: V3.2's published template uses it with
  a ``function_calls`` wrapper (``encoding_dsv32.py``, 2025-12), V4's with ``tool_calls``
  (``encoding_dsv4.py``, 2026). Asked for anything else, the model drifts back into it
  (PROTOCOL §6.4; DS2-go and FLY moved to DSML for that reason, 2026-04/05), so asking for it means
  the instructed format and the drift are the same thing, and the parser reads both wrappers.
* Its values need no escaping: text parameters are written as they are (``string="true"``), which
  matters for agents whose arguments are whole files or shell commands; a JSON format (NIY's
  ``<|tool▁calls▁begin|>[{…}]``, DS2-py's ``{"tool_calls": …}``) breaks on one unescaped quote.
* Full-width bars, as in the templates: through the web backend they are plain text, not special
  tokens (NIY's experiments, 2026-05), so they cost nothing; and the model's own output uses them.
  NIY's switch to ASCII bars was about the V3 markers, which we do not ask for (but still read).
* Tool results come back as ``<tool_result>`` elements, V4's own wrapper (``history``).

``tool_choice`` adds one line; ``none`` gives no instructions (the caller then installs no parser).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from deepseek_free_api.chat.request import NamedToolChoice, ToolChoice, ToolSpec
from deepseek_free_api.chat.tools.history import BLOCK, DSML

_FORMAT = f"""\
## Tools

You can call the tools listed below. To call tools, write one <{DSML}{BLOCK}> block at the end of
your reply, exactly in this form:

<{DSML}{BLOCK}>
<{DSML}invoke name="TOOL_NAME">
<{DSML}parameter name="PARAMETER_NAME" string="true">text value</{DSML}parameter>
<{DSML}parameter name="OTHER_PARAMETER" string="false">JSON value</{DSML}parameter>
</{DSML}invoke>
</{DSML}{BLOCK}>

Rules:
- Text parameters: string="true", the text exactly as it is, with no quotes and no escaping.
  Numbers, booleans, null, arrays and objects: string="false", written as JSON.
- Use only the tools and parameter names listed below, and give every required parameter.
- {{calls_rule}}
- The block ends your reply. The results come back in the next message, each inside a
  <tool_result> element. Never write a result yourself, and do not guess what it will be.
- A block inside a Markdown code block is only an example and is not run.
"""
_PARALLEL = "To call several tools at once, put one invoke element per call in the same block."
_SINGLE = "Call at most one tool per reply: one invoke element."
_CHOICE = {
    "auto": "Call a tool when it helps to answer; otherwise answer normally, without a block.",
    "required": "You must call at least one of the tools in this reply.",
}


def tool_instructions(
    tools: Sequence[ToolSpec], choice: ToolChoice = "auto", *, parallel: bool = True
) -> str:
    """Instructions for the declared tools ("" when there are none or ``choice`` is ``none``)."""
    if not tools or choice == "none":
        return ""
    text = _FORMAT.format(calls_rule=_PARALLEL if parallel else _SINGLE)
    schemas = "\n".join(_schema(tool) for tool in tools)
    if isinstance(choice, NamedToolChoice):
        rule = f'You must call the tool "{choice.name}" in this reply, and no other tool.'
    else:
        rule = _CHOICE[choice]
    return f"{text}\n### Available tools\n\n{schemas}\n\n{rule}"


def _schema(tool: ToolSpec) -> str:
    entry: dict[str, object] = {"name": tool.name}
    if tool.description:
        entry["description"] = tool.description
    entry["parameters"] = dict(tool.parameters) or {"type": "object", "properties": {}}
    return json.dumps(entry, ensure_ascii=False)
