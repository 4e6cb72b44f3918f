"""Anthropic Messages request models (the wire format), parsed into a ChatRequest.

What the web model cannot honour is a clear 400 (MCP servers; ``image``/``document`` blocks
outside user turns); what changes nothing for it is accepted and
ignored, and the README says so (sampling knobs, ``metadata``, ``cache_control``,
``context_management``, thinking ``budget_tokens``, ``output_config.effort``).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deepseek_free_api.api.model_names import ClaudeModels
from deepseek_free_api.chat.content import split_content
from deepseek_free_api.chat.models import ModelSpec
from deepseek_free_api.chat.request import (
    Attachment,
    ChatMessage,
    ChatRequest,
    NamedToolChoice,
    ReasoningOutput,
    ResponseFormat,
    ToolCall,
    ToolChoice,
    ToolSpec,
)
from deepseek_free_api.errors import RequestError

# Claude Code's first system block (2.1, 2026): "x-anthropic-billing-header: cc_version=…;
# cc_entrypoint=…;", different on every request; prompting with it would only add noise.
_BILLING_HEADER = "x-anthropic-billing-header:"
_MEDIA_BLOCKS = frozenset({"image", "document"})  # uploaded as attachments (user turns only)
_SKIPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})  # earlier reasoning is not re-sent


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


W = TypeVar("W", bound=_Wire)


class MessageIn(_Wire):
    # "system" is not Anthropic's, but Claude Code sends it inside messages with some models
    # (seen 2026-11 with 2.1.x and its default model); it is an instruction like ``system``.
    role: Literal["user", "assistant", "system"]
    content: str | list[dict[str, Any]]


class ThinkingConfig(_Wire):
    type: Literal["enabled", "adaptive", "disabled"]
    budget_tokens: int | None = None  # DeepSeek's web chat has no thinking budget


class ToolIn(_Wire):
    name: str
    type: str | None = None
    description: str = ""
    input_schema: dict[str, Any] | None = None


class ToolChoiceIn(_Wire):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool = False


class OutputConfig(_Wire):
    effort: str | None = None
    format: dict[str, Any] | None = None


class MessagesRequest(_Wire):
    model: str
    max_tokens: int = Field(ge=1)
    messages: list[MessageIn] = Field(min_length=1)
    system: str | list[dict[str, Any]] | None = None
    stop_sequences: list[str] | None = None
    stream: bool = False
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    thinking: ThinkingConfig | None = None
    tools: list[ToolIn] | None = None
    tool_choice: ToolChoiceIn | None = None
    output_config: OutputConfig | None = None
    mcp_servers: list[Any] | None = None


class CountTokensRequest(_Wire):
    model: str
    messages: list[MessageIn] = Field(min_length=1)
    system: str | list[dict[str, Any]] | None = None
    thinking: ThinkingConfig | None = None
    tools: list[ToolIn] | None = None
    tool_choice: ToolChoiceIn | None = None


def validated(kind: type[W], body: Any) -> W:
    """``body`` as the wire model, or a RequestError naming the first bad field."""
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object")
    try:
        return kind.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        if first["type"] == "missing":
            raise RequestError(f"{param}: Field required", param=param) from exc
        raise RequestError(f"{param}: {first['msg']}", param=param) from exc


def parse_messages_request(
    body: Any, *, models: ClaudeModels, default_reasoning: ReasoningOutput
) -> ChatRequest:
    """Validate an Anthropic Messages body and map it to the internal request."""
    wire = validated(MessagesRequest, body)
    if wire.mcp_servers:
        raise RequestError("mcp_servers is not supported by this server", param="mcp_servers")
    stop = tuple(wire.stop_sequences or ())
    if any(not sequence for sequence in stop):
        raise RequestError("stop_sequences must not contain empty strings", param="stop_sequences")
    tools, search = parse_tools(wire.tools)
    return ChatRequest(
        model=_model(wire.model, wire.thinking, search, models),
        messages=parse_conversation(wire.system, wire.messages),
        stream=wire.stream,
        max_tokens=wire.max_tokens,
        stop=stop,
        include_usage=True,  # Anthropic reports usage on every reply and stream
        # Anthropic has its own channel for reasoning (thinking blocks); only "hidden" carries over.
        reasoning_output="hidden" if default_reasoning == "hidden" else "reasoning_content",
        tools=tools,
        tool_choice=_tool_choice(wire.tool_choice),
        parallel_tool_calls=not (wire.tool_choice and wire.tool_choice.disable_parallel_tool_use),
        response_format=_output_format(wire.output_config),
    )


def _output_format(config: OutputConfig | None) -> ResponseFormat | None:
    """``output_config.format`` (Claude Code's title request uses it) as the structured-output request.

    Anthropic's form is ``{"type": "json_schema", "schema": {...}}``; the answer is then instructed,
    checked and repaired once like OpenAI's ``response_format`` (``chat.structured``).
    """
    if config is None or config.format is None:
        return None
    kind, schema = config.format.get("type"), config.format.get("schema")
    if kind != "json_schema" or not isinstance(schema, dict):
        raise RequestError(
            'output_config.format must be {"type": "json_schema", "schema": {...}}',
            param="output_config.format",
        )
    return ResponseFormat("json_schema", schema=schema, param="output_config.format.schema")


def parse_count_request(body: Any, *, models: ClaudeModels) -> ChatRequest:
    """The request a ``count_tokens`` body stands for (checked like a Messages body), tools included."""
    wire = validated(CountTokensRequest, body)
    tools, search = parse_tools(wire.tools)
    return ChatRequest(
        model=_model(wire.model, wire.thinking, search, models),
        messages=parse_conversation(wire.system, wire.messages),
        tools=tools,
        tool_choice=_tool_choice(wire.tool_choice),
    )


def _model(name: str, thinking: ThinkingConfig | None, search: bool, models: ClaudeModels) -> ModelSpec:
    spec = models.resolve(name)
    # Without ``thinking`` the mapped model's default holds (a map target may say -nothinking).
    if thinking is not None and thinking.type in ("enabled", "adaptive"):
        spec = replace(spec, thinking=True)
    elif thinking is not None:
        spec = replace(spec, thinking=False, fold=False)
    return replace(spec, search=True) if search else spec


def parse_tools(tools: list[ToolIn] | None) -> tuple[tuple[ToolSpec, ...], bool]:
    """Client tools as ToolSpecs, and whether a web-search server tool asks for DeepSeek's search."""
    specs: list[ToolSpec] = []
    search = False
    for index, tool in enumerate(tools or ()):
        if tool.type and tool.type.startswith("web_search"):
            search = True
        elif tool.input_schema is not None and tool.type in (None, "custom"):
            param = f"tools.{index}.input_schema"
            specs.append(ToolSpec(tool.name, tool.description, tool.input_schema, param=param))
        # Other typed tools (bash_*, text_editor_*, code_execution_*, …) carry no schema and are
        # hosted or Anthropic-defined: left out of the prompt, not failed (CLIENTS.md).
    return tuple(specs), search


def _tool_choice(choice: ToolChoiceIn | None) -> ToolChoice:
    if choice is None or choice.type == "auto":
        return "auto"
    if choice.type == "none":
        return "none"
    if choice.type == "any":
        return "required"
    if not choice.name:
        raise RequestError("tool_choice of type 'tool' needs a name", param="tool_choice.name")
    return NamedToolChoice(choice.name)


def parse_conversation(
    system: str | list[dict[str, Any]] | None, messages: list[MessageIn]
) -> tuple[ChatMessage, ...]:
    """``system`` then the messages, as internal messages (tool results become ``tool`` messages)."""
    out = [ChatMessage(role="system", text=text) for text in _system_texts(system)]
    for index, message in enumerate(messages):
        if message.role == "system":
            out.extend(ChatMessage(role="system", text=text) for text in _system_texts(message.content))
        elif isinstance(message.content, str):
            out.append(ChatMessage(role=message.role, text=message.content))
        elif message.role == "assistant":
            out.append(_assistant(message.content, f"messages.{index}.content"))
        else:
            out.extend(_user(message.content, f"messages.{index}.content"))
    return tuple(out)


def _system_texts(system: str | list[dict[str, Any]] | None) -> list[str]:
    if system is None:
        return []
    if isinstance(system, str):
        return [system] if system else []
    texts = [_text_of(block, f"system.{index}") for index, block in enumerate(system)]
    if texts and texts[0].lstrip().lower().startswith(_BILLING_HEADER):
        texts = texts[1:]
    return [text for text in texts if text]


def _text_of(block: dict[str, Any], where: str) -> str:
    kind = block.get("type")
    if kind in _MEDIA_BLOCKS:
        raise RequestError(f"{where}: '{kind}' blocks are only accepted in user turns", param=where)
    if kind != "text" or not isinstance(block.get("text"), str):
        raise RequestError(f"{where}: expected a text block, got {kind!r}", param=where)
    text: str = block["text"]
    return text


def _assistant(blocks: list[dict[str, Any]], where: str) -> ChatMessage:
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    for index, block in enumerate(blocks):
        kind = block.get("type")
        if kind == "tool_use":
            arguments = json.dumps(block.get("input") or {}, ensure_ascii=False)
            calls.append(ToolCall(str(block.get("id", "")), str(block.get("name", "")), arguments))
        elif kind in _SKIPPED_BLOCKS:
            if isinstance(block.get("thinking"), str):
                reasoning.append(block["thinking"])
        else:
            texts.append(_text_of(block, f"{where}.{index}"))
    return ChatMessage(
        role="assistant",
        text="\n".join(texts),
        reasoning="".join(reasoning) or None,
        tool_calls=tuple(calls),
    )


def _user(blocks: list[dict[str, Any]], where: str) -> list[ChatMessage]:
    """Text blocks in order, with each ``tool_result`` as a ``tool`` message where it stood.

    ``image`` and ``document`` blocks become attachments of the user message they stand in
    (uploaded to DeepSeek by ``chat.files``).
    """
    out: list[ChatMessage] = []
    texts: list[str] = []
    attachments: list[Attachment] = []

    def flush() -> None:
        out.append(ChatMessage(role="user", text="\n".join(texts), attachments=tuple(attachments)))
        texts.clear()
        attachments.clear()

    for index, block in enumerate(blocks):
        kind = block.get("type")
        if kind in _MEDIA_BLOCKS:
            attachments.extend(split_content([block], param=f"{where}.{index}")[1])
        elif kind != "tool_result":
            texts.append(_text_of(block, f"{where}.{index}"))
        else:
            if texts or attachments:
                flush()
            out.append(_tool_result(block, f"{where}.{index}"))
    if texts or attachments or not out:
        flush()
    return out


def _tool_result(block: dict[str, Any], where: str) -> ChatMessage:
    content = block.get("content")
    if isinstance(content, list):
        text = "\n".join(_text_of(part, f"{where}.content.{i}") for i, part in enumerate(content))
    else:
        text = content if isinstance(content, str) else ""
    if block.get("is_error"):
        text = "(the tool reported an error)\n" + text
    return ChatMessage(role="tool", text=text, tool_call_id=str(block.get("tool_use_id", "")))
