"""OpenAI Responses ``input`` items -> internal chat messages: messages, tool calls, their outputs."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from deepseek_free_api.chat.content import split_content
from deepseek_free_api.chat.request import Attachment, ChatMessage, ToolCall
from deepseek_free_api.errors import RequestError

_TEXT_PARTS = frozenset({"input_text", "output_text", "text", "summary_text"})
_MEDIA_PARTS = frozenset({"input_image", "input_file"})  # in user messages: attachments
_UNSUPPORTED_PARTS = frozenset({"input_image", "input_file", "input_audio", "image_url", "file"})
_MEDIA_HINT = "images and files are accepted in user messages only (as input_image / input_file)"
CUSTOM_INPUT = "input"  # the one parameter a custom tool's call carries


def input_messages(items: list[dict[str, Any]]) -> tuple[ChatMessage, ...]:
    """Input items as chat messages; calls following an assistant message join it."""
    messages: list[ChatMessage] = []
    for index, item in enumerate(items):
        kind = item.get("type") or ("message" if "role" in item else None)
        where = f"input[{index}]"
        if kind == "message":
            messages.append(_message(item, where))
        elif kind in ("function_call", "custom_tool_call"):
            call = _call(item, where)
            if messages and messages[-1].role == "assistant":
                last = messages.pop()
                messages.append(dataclasses.replace(last, tool_calls=(*last.tool_calls, call)))
            else:
                messages.append(ChatMessage(role="assistant", text="", tool_calls=(call,)))
        elif kind in ("function_call_output", "custom_tool_call_output"):
            text = _text(item.get("output"), f"{where}.output")
            call_id = _required(item, "call_id", where)
            messages.append(ChatMessage(role="tool", text=text, tool_call_id=call_id))
        elif kind in ("reasoning", "additional_tools"):
            continue  # reasoning is never re-sent upstream; additional tools were read with tools
        elif kind == "item_reference":
            raise RequestError(
                "item_reference items are not supported; send the items or use previous_response_id",
                param=where,
                code="unsupported_parameter",
            )
        else:
            raise RequestError(f"{where} has an unsupported type {kind!r}", param=f"{where}.type")
    if not messages:
        raise RequestError("input contains no message", param="input")
    return tuple(messages)


def _message(item: dict[str, Any], where: str) -> ChatMessage:
    role = item.get("role")
    if role not in ("user", "assistant", "system", "developer"):
        roles = "user, assistant, system or developer"
        raise RequestError(f"{where}.role must be {roles}", param=f"{where}.role")
    where = f"{where}.content"
    content = item.get("content")
    attachments: tuple[Attachment, ...] = ()
    if role == "user" and isinstance(content, list):
        media = [part for part in content if isinstance(part, dict) and part.get("type") in _MEDIA_PARTS]
        attachments = split_content(media, param=where)[1]  # uploaded to DeepSeek by chat.files
        content = [
            part for part in content if not (isinstance(part, dict) and part.get("type") in _MEDIA_PARTS)
        ]
    return ChatMessage(role=role, text=_text(content, where), attachments=attachments)


def _call(item: dict[str, Any], where: str) -> ToolCall:
    call_id = _required(item, "call_id", where)
    name = _required(item, "name", where)
    if item.get("type") == "custom_tool_call":
        raw = item.get("input")
        return ToolCall(call_id, name, json.dumps({CUSTOM_INPUT: raw if isinstance(raw, str) else ""}))
    arguments = item.get("arguments")
    return ToolCall(call_id, name, arguments if isinstance(arguments, str) else json.dumps(arguments or {}))


def _required(item: dict[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise RequestError(f"{where}.{key} is required", param=f"{where}.{key}")
    return value


def _text(content: Any, where: str) -> str:
    """A string, or the text of ``input_text``/``output_text`` parts; media parts are a 400."""
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise RequestError(f"{where} must be a string or a list of parts", param=where)
    pieces: list[str] = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in _TEXT_PARTS and isinstance(part.get("text"), str):
            pieces.append(part["text"])
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            pieces.append(part["refusal"])
        elif kind in _UNSUPPORTED_PARTS:
            raise RequestError(f"{where}[{index}] is {kind}: {_MEDIA_HINT}", param=f"{where}[{index}]")
        else:
            message = f"{where}[{index}] has an unsupported type {kind!r}"
            raise RequestError(message, param=f"{where}[{index}]")
    return "\n".join(pieces)


def name_results(messages: tuple[ChatMessage, ...]) -> tuple[ChatMessage, ...]:
    """Tool results carry the name of the call they answer, when the call is in the conversation."""
    names = {call.id: call.name for message in messages for call in message.tool_calls}
    return tuple(
        dataclasses.replace(m, name=names[m.tool_call_id])
        if m.role == "tool" and m.tool_call_id in names and m.name is None
        else m
        for m in messages
    )
