"""Folding a conversation into the single ``prompt`` string of DeepSeek's web endpoint (PROTOCOL §6.1).

The template, and why:

* Only ``<｜User｜>`` and ``<｜Assistant｜>`` (full-width ``｜`` U+FF5C) survive the web backend as
  special tokens (NIY ``docs/en/deepseek-prompt-injection.md``, 2026-05); ``<｜System｜>``,
  ``<｜Tool｜>`` and ``<｜end▁of▁sentence｜>`` reach the model as plain text. So we use those two
  markers and nothing else: roles the model has no token for are written as labelled text.
* The backend already wraps whatever we send as one user turn and opens the assistant turn after
  it. Hence the first block goes up bare (a leading ``<｜User｜>`` would open an empty turn), a
  single user message goes up as exactly its text, and no ``<｜Assistant｜>`` is appended at the end
  (it would be doubled). This is the seed's scheme (DFA ``messagesPrepare``, 2025-01-24), which its
  users relied on, minus ``<｜end▁of▁sentence｜>`` (plain text through the web backend, see above).
* Leading system/developer messages are the bare first block, where DeepSeek's own chat template
  puts the system prompt (before the first ``<｜User｜>``). A system/developer message later in the
  conversation cannot go there, so it joins the next user turn as ``System: ...``.
* Consecutive messages on the same side merge with a blank line, as in DFA; tool results are on
  the user side (the caller, not the model, produced them) and say which call they answer.
* Assistant ``tool_calls`` are rendered as text after the assistant's words, so the model sees its
  own earlier calls; the tool-call codec (``chat.tools.history``) passes renderers for the calls and
  the results in the format it instructs.
* Assistant ``reasoning`` is accepted and dropped: DeepSeek's API documents that earlier turns'
  reasoning is not put back into the context, and it would burn the input character limit.
* Markdown images are neutralised: DFA deleted ``![alt](url)``, DS2 turns it into a link; we keep
  the link (the model still knows what was referenced) and drop ``data:`` payloads, which only eat
  the input limit.

Example: system "Be terse", user "Hi", assistant "Hello", user "2+2?" ->
``Be terse<｜User｜>Hi<｜Assistant｜>Hello<｜User｜>2+2?``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Literal

from deepseek_free_api.chat.request import ChatMessage, ToolCall
from deepseek_free_api.errors import RequestError
from deepseek_free_api.json_text import parse_json

USER_MARKER = "<｜User｜>"
ASSISTANT_MARKER = "<｜Assistant｜>"

ToolCallRenderer = Callable[[Sequence[ToolCall]], str]
ToolResultRenderer = Callable[[ChatMessage], str]
_Side = Literal["instructions", "user", "assistant"]

_MARKDOWN_IMAGE = re.compile(r"!\[([^\]\n]*)\]\(\s*([^)\s]*)(?:\s+\"[^\"\n]*\")?\s*\)")


def render_tool_calls_json(calls: Sequence[ToolCall]) -> str:
    """Default text form of assistant tool calls: one JSON object ``{"tool_calls": [...]}``."""
    payload = [
        {"id": call.id, "name": call.name, "arguments": _json_or_text(call.arguments)} for call in calls
    ]
    return json.dumps({"tool_calls": payload}, ensure_ascii=False)


def render_tool_result_text(message: ChatMessage) -> str:
    """Default text form of a ``tool`` message: a line saying which call it answers, then the result."""
    return f"{_tool_result_header(message)}\n{message.text or '(empty)'}"


def neutralise_images(text: str) -> str:
    """Turn Markdown images into links (``data:`` URLs into ``[image: alt]``)."""

    def replace(match: re.Match[str]) -> str:
        alt, url = match.group(1).strip(), match.group(2)
        if not url or url.startswith("data:"):
            return f"[image: {alt}]" if alt else "[image]"
        return f"[{alt or 'image'}]({url})"

    return _MARKDOWN_IMAGE.sub(replace, text)


def fold_messages(
    messages: Sequence[ChatMessage],
    *,
    render_tool_calls: ToolCallRenderer = render_tool_calls_json,
    render_tool_result: ToolResultRenderer = render_tool_result_text,
    instructions: str = "",
) -> str:
    """The whole conversation as one prompt for a new upstream session.

    ``instructions`` (e.g. the tool instructions) lead, as the first system text.
    """
    if instructions:
        messages = (ChatMessage(role="system", text=instructions), *messages)
    turns: list[tuple[_Side, list[str]]] = []
    leading = True
    for message in messages:
        if message.role not in ("system", "developer"):
            leading = False
        side: _Side = "instructions" if leading else _side_of(message)
        text = _render(message, render_tool_calls, render_tool_result, instructions=leading)
        if not text:
            continue
        if turns and turns[-1][0] == side:
            turns[-1][1].append(text)
        else:
            turns.append((side, [text]))
    if not turns:
        raise RequestError("messages contain no text to send", param="messages")
    parts: list[str] = []
    for index, (side, texts) in enumerate(turns):
        body = "\n\n".join(texts)
        if side == "assistant":
            parts.append(ASSISTANT_MARKER + body)
        elif index == 0:
            parts.append(body)
        else:
            parts.append(USER_MARKER + body)
    return "".join(parts)


def new_turn_prompt(
    messages: Sequence[ChatMessage],
    *,
    render_tool_calls: ToolCallRenderer = render_tool_calls_json,
    render_tool_result: ToolResultRenderer = render_tool_result_text,
    instructions: str = "",
) -> str:
    """The prompt for a native continuation: only the messages after the last assistant message."""
    last_assistant = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=-1)
    tail = messages[last_assistant + 1 :]
    if not tail:
        raise RequestError(
            "a continued conversation needs a new message after the last assistant message",
            param="messages",
        )
    return fold_messages(
        tail,
        render_tool_calls=render_tool_calls,
        render_tool_result=render_tool_result,
        instructions=instructions,
    )


def transcript(
    messages: Sequence[ChatMessage],
    *,
    render_tool_calls: ToolCallRenderer = render_tool_calls_json,
    render_tool_result: ToolResultRenderer = render_tool_result_text,
) -> str:
    """The conversation as a plain-text file: ``=== 1. USER ===`` sections, as DS2-go writes its
    history file (``current_input_file``, 2026-04-27); markers would be plain text in a file anyway."""
    sections: list[str] = []
    for message in messages:
        text = _render(message, render_tool_calls, render_tool_result, instructions=True)
        if text:
            sections.append(f"=== {len(sections) + 1}. {message.role.upper()} ===\n{text}")
    return "\n\n".join(sections) + "\n"


def _side_of(message: ChatMessage) -> _Side:
    return "assistant" if message.role == "assistant" else "user"


def _render(
    message: ChatMessage,
    render_tool_calls: ToolCallRenderer,
    render_tool_result: ToolResultRenderer,
    *,
    instructions: bool,
) -> str:
    text = neutralise_images(message.text)
    if not text.strip():
        text = ""  # whitespace-only parts would add empty turns; otherwise the text goes up verbatim
    if message.role in ("system", "developer"):
        return text if instructions or not text else f"System: {text}"
    if message.role == "tool":
        return render_tool_result(replace(message, text=text))
    if message.role == "assistant" and message.tool_calls:
        calls = render_tool_calls(message.tool_calls)
        return f"{text}\n\n{calls}" if text else calls
    return text


def _tool_result_header(message: ChatMessage) -> str:
    if message.tool_call_id and message.name:
        return f"Result of tool call {message.tool_call_id} ({message.name}):"
    if message.tool_call_id:
        return f"Result of tool call {message.tool_call_id}:"
    if message.name:
        return f"Result of tool {message.name}:"
    return "Tool result:"


def _json_or_text(arguments: str) -> object:
    """Arguments as JSON when they parse, so the model sees an object rather than an escaped string."""
    try:
        return parse_json(arguments)
    except ValueError:  # not JSON, or nested too deep to show as JSON
        return arguments
