"""OpenAI Chat Completions request models (the wire format), parsed into a ChatRequest."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deepseek_free_api.chat.content import content_to_text
from deepseek_free_api.chat.models import parse_model
from deepseek_free_api.chat.request import (
    ChatMessage,
    ChatRequest,
    NamedToolChoice,
    ReasoningOutput,
    ToolCall,
    ToolChoice,
    ToolSpec,
)
from deepseek_free_api.errors import RequestError


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FunctionCall(_Wire):
    name: str = ""
    arguments: str = ""


class ToolCallIn(_Wire):
    id: str = ""
    type: str = "function"
    function: FunctionCall = Field(default_factory=FunctionCall)


class MessageIn(_Wire):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[Any] | None = None
    name: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None


class FunctionSpec(_Wire):
    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)


class ToolIn(_Wire):
    type: str = "function"
    function: FunctionSpec


class StreamOptions(_Wire):
    include_usage: bool = False


class ChatCompletionRequest(_Wire):
    model: str
    messages: list[MessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    n: int | None = Field(default=None, ge=1)
    tools: list[ToolIn] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    conversation_id: str | None = None
    # Our extension: how to show reasoning ("reasoning_content", "think_tags" or "hidden").
    reasoning_format: ReasoningOutput | None = None


def parse_chat_request(body: Any, *, default_reasoning: ReasoningOutput) -> ChatRequest:
    """Validate an OpenAI body and map it to the internal request; RequestError names the param."""
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object")
    try:
        wire = ChatCompletionRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        raise RequestError(f"Invalid '{param}': {first['msg']}", param=param) from exc
    if wire.n not in (None, 1):
        raise RequestError("Only n=1 is supported", param="n")
    stop = (wire.stop,) if isinstance(wire.stop, str) else tuple(wire.stop or ())
    if len(stop) > 4:
        raise RequestError("At most 4 stop sequences are allowed", param="stop")
    return ChatRequest(
        model=parse_model(wire.model),
        messages=tuple(_message(message) for message in wire.messages),
        stream=wire.stream,
        max_tokens=wire.max_completion_tokens or wire.max_tokens,
        stop=stop,
        include_usage=bool(wire.stream_options and wire.stream_options.include_usage),
        conversation_id=wire.conversation_id or None,
        reasoning_output=wire.reasoning_format or default_reasoning,
        tools=tuple(
            ToolSpec(tool.function.name, tool.function.description, tool.function.parameters)
            for tool in wire.tools or ()
        ),
        tool_choice=_tool_choice(wire.tool_choice),
        parallel_tool_calls=wire.parallel_tool_calls is not False,
    )


def _message(message: MessageIn) -> ChatMessage:
    role = "tool" if message.role == "function" else message.role
    calls = tuple(
        ToolCall(call.id, call.function.name, call.function.arguments) for call in message.tool_calls or ()
    )
    return ChatMessage(
        role=role,
        text=content_to_text(message.content),
        reasoning=message.reasoning_content,
        tool_calls=calls,
        tool_call_id=message.tool_call_id,
        name=message.name,
    )


def _tool_choice(value: str | dict[str, Any] | None) -> ToolChoice:
    if value is None or value == "auto":
        return "auto"
    if value in ("none", "required"):
        return value  # type: ignore[return-value]
    if isinstance(value, dict):
        function = value.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            return NamedToolChoice(function["name"])
    raise RequestError(
        "tool_choice must be 'auto', 'none', 'required' or a named function", param="tool_choice"
    )
