"""The internal chat request: what every public dialect is parsed into at the edge.

OpenAI chat completions, OpenAI Responses and Anthropic Messages all map onto these values:
system/developer instructions become leading ``system``/``developer`` messages, Anthropic
``tool_use``/Responses ``function_call`` items become assistant ``tool_calls``, and
``tool_result``/``function_call_output`` items become ``tool`` messages carrying the call id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from deepseek_free_api.chat.inline import InlineData
from deepseek_free_api.chat.models import ModelSpec
from deepseek_free_api.chat.schema_limits import check_schema
from deepseek_free_api.errors import RequestError, UnsupportedContentError

AttachmentKind = Literal["image", "file"]
Role = Literal["system", "developer", "user", "assistant", "tool"]
ReasoningOutput = Literal["reasoning_content", "think_tags", "hidden"]
# What the renderer finally does with reasoning, after the model name's silent/fold flags.
ReasoningMode = Literal["reasoning_content", "think_tags", "hidden", "details"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the assistant made; ``arguments`` is the JSON text as the model wrote it."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Attachment:
    """An image or file sent with a message: its content as sent, or an http(s) ``url``; either is
    decoded or fetched only when it is uploaded.

    Or, for one of an earlier turn that was kept (a stored Response), the ``file_id`` DeepSeek gave
    it then: referenced again on the account that holds it (``ChatRequest.files_account``), never
    uploaded twice.
    """

    kind: AttachmentKind
    filename: str
    media_type: str
    inline: InlineData | None = field(default=None, repr=False)
    url: str | None = field(default=None, repr=False)
    param: str = ""  # the content part it came from (``messages.0.content.1``), for error messages
    file_id: str | None = None


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of the conversation: its text, and the images and files it carries."""

    role: Role
    text: str
    reasoning: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the caller offers the model (OpenAI ``tools[].function``, Anthropic ``tools[]``)."""

    name: str
    description: str = ""
    # JSON schema of the arguments; excluded from hashing because it is a dict.
    parameters: Mapping[str, Any] = field(default_factory=dict, hash=False)
    param: str = field(default="tools", compare=False)  # where the schema was in the request

    def __post_init__(self) -> None:
        check_schema(self.parameters, self.param)  # bounded work for every answer checked against it


@dataclass(frozen=True, slots=True)
class NamedToolChoice:
    """``tool_choice`` forcing one named function."""

    name: str


# "auto"/"none"/"required" as in OpenAI; Anthropic's "any" maps to "required", {"type": "tool"} to Named.
ToolChoice = Literal["auto", "none", "required"] | NamedToolChoice


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """A structured answer the caller asks for (OpenAI ``response_format``, Anthropic
    ``output_config.format``): any JSON object, or a JSON value valid against ``schema``.

    ``chat.structured`` instructs the model, checks the answer and runs one repair round.
    """

    kind: Literal["json_object", "json_schema"]
    # The JSON schema (json_schema only; None there means any JSON value); not hashed, it is a dict.
    schema: Mapping[str, Any] | None = field(default=None, hash=False)
    name: str = ""
    description: str = ""
    strict: bool = False
    param: str = field(default="response_format", compare=False)  # where the schema was in the request

    def __post_init__(self) -> None:
        if self.schema is not None:
            check_schema(self.schema, self.param)  # bounded work for every answer checked against it


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A chat to run, independent of the public dialect it came in."""

    model: ModelSpec
    messages: tuple[ChatMessage, ...]
    stream: bool = False
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    include_usage: bool = False
    # See chat.conversations: a value not of the conversation-id form starts a new session.
    conversation_id: str | None = None
    reasoning_output: ReasoningOutput = "reasoning_content"
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice = "auto"
    parallel_tool_calls: bool = True
    response_format: ResponseFormat | None = None
    # The account holding the DeepSeek files of attachments that carry a ``file_id``: the turn runs there.
    files_account: str | None = None
    # A reply id the server kept itself (a stored Response's): the session to go on with, sending
    # only the messages after the last assistant message, when it can; else the whole ``messages``
    # are replayed in a new session (``chat.failover``).
    resume: str | None = None
    # Set when ``messages`` end a longer conversation kept by the server (a stored Response chain):
    # they suffice to go on in its session (``resume``); this reads the whole request back for a
    # replay in a new session, so that going on natively never reads the chain's history.
    history: Callable[[], Awaitable[ChatRequest]] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.messages:
            raise RequestError("messages must contain at least one message", param="messages")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise RequestError("max_tokens must be at least 1", param="max_tokens")
        if isinstance(self.tool_choice, NamedToolChoice) and self.tool_choice.name not in {
            tool.name for tool in self.tools
        }:
            raise RequestError(
                f"tool_choice names '{self.tool_choice.name}', which is not in tools", param="tool_choice"
            )
        self._check_attachments()

    def _check_attachments(self) -> None:
        """Images need the vision model; expert mode ignores files (seen 2026-05, PROTOCOL.md §4.8)."""
        model = self.model
        for attachment in self.attachments:
            if attachment.kind == "image" and model.model_type != "vision":
                raise UnsupportedContentError(
                    f"'{attachment.param}' is an image, and only DeepSeek's vision model reads images: "
                    f"use the model '{vision_model_for(model)}' instead of '{model.name[:64]}'",
                    param=attachment.param,
                )
            if model.model_type == "expert":
                raise UnsupportedContentError(
                    f"'{attachment.param}' is a file, and DeepSeek's expert mode ('{model.name[:64]}') "
                    "ignores uploaded files: use deepseek-v4-flash or deepseek-v4-vision",
                    param=attachment.param,
                )

    @property
    def attachments(self) -> tuple[Attachment, ...]:
        """Every image and file of the conversation, in message order."""
        return tuple(attachment for message in self.messages for attachment in message.attachments)

    @property
    def reasoning_mode(self) -> ReasoningMode:
        """How reasoning is shown: the model's ``-silent``/``-fold`` suffix wins over the request option."""
        if self.model.silent:
            return "hidden"
        if self.model.fold:
            return "details"
        return self.reasoning_output

    @property
    def wants_usage(self) -> bool:
        """Whether the reply reports token usage (always without streaming; on request with it)."""
        return self.include_usage or not self.stream

    @property
    def wants_tools(self) -> bool:
        """Whether tool calling is in play for this request."""
        return bool(self.tools) and self.tool_choice != "none"


def vision_model_for(model: ModelSpec) -> str:
    """The vision model name with the same thinking and search switches as ``model``."""
    name = "deepseek-v4-vision" + ("" if model.thinking else "-nothinking")
    return name + ("-search" if model.search else "")
