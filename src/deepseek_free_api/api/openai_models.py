"""OpenAI Chat Completions request models (the wire format), parsed into a ChatRequest.

The SDKs send ``null`` for fields they leave unset, so a ``null`` field counts as absent in every
model here (a required one is then missing). Fields this server cannot honour are refused with a
400 naming them rather than ignored: ``logprobs``/``top_logprobs``, ``n`` > 1, an unknown
``response_format`` type, and content parts other than text, ``image_url`` and ``file`` (which
user messages may carry; ``chat.files`` uploads them). ``response_format`` json_object and
json_schema are honoured by ``chat.structured`` (instructed, checked, repaired once).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from deepseek_free_api.chat.content import split_content
from deepseek_free_api.chat.models import parse_model
from deepseek_free_api.chat.request import (
    ChatMessage,
    ChatRequest,
    NamedToolChoice,
    ReasoningOutput,
    ResponseFormat,
    ToolCall,
    ToolChoice,
    ToolSpec,
)
from deepseek_free_api.errors import (
    MissingParameterError,
    RequestError,
    UnsupportedContentError,
    UnsupportedParameterError,
)


def _nullable_optionals(schema: dict[str, Any]) -> None:
    """Publish what ``_Wire`` accepts: every optional property may also be ``null``."""
    required = set(schema.get("required", ()))
    properties: dict[str, dict[str, Any]] = schema.get("properties", {})
    for name, prop in properties.items():
        if name in required or {"type": "null"} in prop.get("anyOf", ()):
            continue
        meta: dict[str, Any] = {k: prop.pop(k) for k in ("title", "description", "default") if k in prop}
        properties[name] = {"anyOf": [prop, {"type": "null"}], **meta}


def _only(value: object) -> Callable[[dict[str, Any]], None]:
    """Publish ``value`` as the one accepted non-null value of an optional field."""

    def publish(schema: dict[str, Any]) -> None:
        for branch in schema.get("anyOf", [schema]):
            if branch.get("type") != "null":
                branch["const"] = value

    return publish


def _content_parts(schema: dict[str, Any]) -> None:
    """Publish the parts that reach DeepSeek (text, images, files); others are a clear 400, not a 422."""
    text_part = {
        "type": "object",
        "required": ["type", "text"],
        "properties": {"type": {"const": "text"}, "text": {"type": "string"}},
    }
    image_part = {
        "type": "object",
        "required": ["type", "image_url"],
        "properties": {
            "type": {"const": "image_url"},
            "image_url": {
                "type": "object",
                "required": ["url"],
                "properties": {
                    "url": {"type": "string", "description": "a data: URL (http(s) if files.remote_urls)"},
                    "detail": {"type": "string"},
                },
            },
        },
    }
    file_part = {
        "type": "object",
        "required": ["type", "file"],
        "properties": {
            "type": {"const": "file"},
            "file": {
                "type": "object",
                "required": ["file_data"],
                "properties": {
                    "file_data": {"type": "string", "description": "base64 or a data: URL"},
                    "filename": {"type": "string"},
                },
            },
        },
    }
    for branch in schema.get("anyOf", ()):
        if branch.get("type") == "array":
            branch["items"] = {"anyOf": [{"type": "string"}, text_part, image_part, file_part]}


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra=_nullable_optionals)

    @model_validator(mode="before")
    @classmethod
    def _null_is_unset(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


class FunctionCall(_Wire):
    name: str = ""
    arguments: str = ""


class ToolCallIn(_Wire):
    id: str = ""
    type: str = "function"
    function: FunctionCall = Field(default_factory=FunctionCall)


class MessageIn(_Wire):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[Any] | None = Field(default=None, json_schema_extra=_content_parts)
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


class JsonSchemaFormat(_Wire):
    name: str = Field(max_length=64)
    description: str = ""
    # ``schema`` would shadow a BaseModel attribute: the field has another name, the wire keeps it.
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormatIn(_Wire):
    # Any other type is a clear 400 from _response_format rather than pydantic's generic message.
    type: str = Field(json_schema_extra={"enum": ["text", "json_object", "json_schema"]})
    json_schema: JsonSchemaFormat | None = None


class ChatCompletionRequest(_Wire):
    model: str
    messages: list[MessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    # The published schema shows the one supported value of each of these; other values are a
    # clear 400 from _refuse_unsupported rather than pydantic's generic message.
    n: int | None = Field(default=None, ge=1, json_schema_extra=_only(1))
    logprobs: bool | None = Field(default=None, json_schema_extra=_only(False))
    top_logprobs: int | None = Field(default=None, ge=0, json_schema_extra=_only(0))
    response_format: ResponseFormatIn | None = None
    tools: list[ToolIn] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    conversation_id: str | None = Field(
        default=None, description="Continue a conversation natively: a previous reply's id (our extension)"
    )
    reasoning_format: ReasoningOutput | None = Field(
        default=None, description="How reasoning is shown (our extension; default: chat.reasoning_output)"
    )


def parse_chat_request(body: Any, *, default_reasoning: ReasoningOutput) -> ChatRequest:
    """Validate an OpenAI body and map it to the internal request; RequestError names the param."""
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object")
    try:
        wire = ChatCompletionRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        if first["type"] == "missing":
            raise MissingParameterError(f"Missing required parameter '{param}'", param=param) from exc
        raise RequestError(f"Invalid '{param}': {first['msg']}", param=param) from exc
    _refuse_unsupported(wire)
    stop = (wire.stop,) if isinstance(wire.stop, str) else tuple(wire.stop or ())
    if len(stop) > 4:
        raise RequestError("At most 4 stop sequences are allowed", param="stop")
    return ChatRequest(
        model=parse_model(wire.model),
        messages=tuple(_message(message, f"messages.{index}") for index, message in enumerate(wire.messages)),
        stream=wire.stream,
        max_tokens=wire.max_completion_tokens or wire.max_tokens,
        stop=stop,
        include_usage=bool(wire.stream_options and wire.stream_options.include_usage),
        conversation_id=wire.conversation_id or None,
        reasoning_output=wire.reasoning_format or default_reasoning,
        tools=tuple(
            ToolSpec(
                tool.function.name,
                tool.function.description,
                tool.function.parameters,
                param=f"tools.{index}.function.parameters",
            )
            for index, tool in enumerate(wire.tools or ())
        ),
        tool_choice=_tool_choice(wire.tool_choice),
        parallel_tool_calls=wire.parallel_tool_calls is not False,
        response_format=_response_format(wire.response_format),
    )


def _refuse_unsupported(wire: ChatCompletionRequest) -> None:
    """A 400 for each option the web chat cannot honour, instead of answering without it."""
    if wire.n not in (None, 1):
        raise UnsupportedParameterError("Only n=1 is supported: DeepSeek answers once per turn", param="n")
    if wire.logprobs:
        raise UnsupportedParameterError(
            "logprobs are not available from the DeepSeek web chat", param="logprobs"
        )
    if wire.top_logprobs:
        raise UnsupportedParameterError(
            "top_logprobs are not available from the DeepSeek web chat", param="top_logprobs"
        )


def _response_format(wire: ResponseFormatIn | None) -> ResponseFormat | None:
    """The structured answer asked for; None for text (or no response_format)."""
    if wire is None or wire.type == "text":
        return None
    if wire.type == "json_object":
        return ResponseFormat("json_object")
    if wire.type == "json_schema":
        spec = wire.json_schema
        if spec is None:
            raise MissingParameterError(
                "response_format of type 'json_schema' needs 'json_schema' with a name and a schema",
                param="response_format.json_schema",
            )
        return ResponseFormat(
            "json_schema",
            spec.schema_,
            name=spec.name,
            description=spec.description,
            strict=bool(spec.strict),
            param="response_format.json_schema.schema",
        )
    raise UnsupportedParameterError(
        f"response_format '{wire.type[:32]}' is not supported; use 'text', 'json_object' or 'json_schema'",
        param="response_format.type",
    )


def _message(message: MessageIn, param: str) -> ChatMessage:
    role = "tool" if message.role == "function" else message.role
    calls = tuple(
        ToolCall(call.id, call.function.name, call.function.arguments) for call in message.tool_calls or ()
    )
    text, attachments = split_content(message.content, param=f"{param}.content")
    if attachments and role != "user":
        raise UnsupportedContentError(
            f"'{attachments[0].param}': only user messages can carry images and files "
            f"(this is a {role} message)",
            param=attachments[0].param,
        )
    return ChatMessage(
        role=role,
        text=text,
        attachments=attachments,
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
