"""OpenAI Responses request models (the wire format), parsed into a ``ResponsesRequest``.

How the request maps onto the internal chat request:

* ``instructions`` is a leading system message; it is not stored, so a follow-up with
  ``previous_response_id`` sends its own (as OpenAI does). ``input`` is a string (one user
  message) or items: messages (``developer`` and ``system`` are instructions), ``function_call``
  and ``custom_tool_call`` (assistant tool calls), their ``*_output`` items (tool results, a
  string or ``input_text`` parts), and ``reasoning`` items, accepted and not sent upstream
  (earlier reasoning never goes back into a prompt; ``encrypted_content`` is opaque to us).
* ``tools``: ``function`` tools as they are; a ``custom`` tool (free-text input, Codex's
  ``apply_patch``) becomes a function with one string parameter ``input`` whose description
  carries the grammar, and its calls are answered as ``custom_tool_call`` items with that text;
  ``web_search`` (any version) switches on DeepSeek's search; every other hosted tool
  (``image_generation``, ``tool_search``, ``file_search``, ...) is left out of the prompt,
  as an option the server cannot run, not a demand. ``additional_tools`` input items add tools
  the same way (namespaces are flattened); a ``tool_choice`` of ``allowed_tools`` keeps only
  the tools it lists.
* ``reasoning.effort``: ``none`` and ``minimal`` turn thinking off, any other effort turns it
  on; a model name that says so itself (``-think``, ``-r1``, ``-nothinking``) wins, because it is
  this server's own, explicit switch while clients send an effort by default.
* Not supported yet, each a clear 400: images and files in the input (no uploads yet),
  ``text.format`` other than ``text``, ``background``, ``conversation``, ``prompt`` templates
  and ``item_reference`` items. ``include``, ``text.verbosity``, ``truncation``,
  ``temperature``, ``top_p`` and the cache or metadata fields are accepted with no effect.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deepseek_free_api.api.responses_input import CUSTOM_INPUT, input_messages, name_results
from deepseek_free_api.chat.models import ModelSpec, parse_model
from deepseek_free_api.chat.request import (
    ChatMessage,
    ChatRequest,
    NamedToolChoice,
    ToolChoice,
    ToolSpec,
)
from deepseek_free_api.errors import RequestError

Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]
_THINKING_OFF: frozenset[str] = frozenset({"none", "minimal"})
_NAME_SWITCHES = frozenset({"think", "r1", "nothinking"})


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ReasoningIn(_Wire):
    effort: Effort | None = None
    summary: str | None = None


class TextFormatIn(_Wire):
    type: str = "text"


class TextIn(_Wire):
    format: TextFormatIn | None = None
    verbosity: str | None = None


class ResponsesRequestIn(_Wire):
    model: str
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    stream: bool | None = None  # null is unset, as SDKs send it
    store: bool | None = None
    previous_response_id: str | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    reasoning: ReasoningIn | None = None
    text: TextIn | None = None
    background: bool | None = None
    conversation: str | dict[str, Any] | None = None
    prompt: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ResponsesRequest:
    """A parsed Responses request: what to run, and what the reply echoes back."""

    model: ModelSpec
    model_name: str
    instructions: str | None
    input: tuple[ChatMessage, ...]
    stream: bool
    store: bool
    previous_response_id: str | None
    max_output_tokens: int | None
    tools: tuple[ToolSpec, ...]
    custom_tools: frozenset[str]
    tool_choice: ToolChoice
    parallel_tool_calls: bool
    effort: Effort | None
    wire_tools: tuple[dict[str, Any], ...]
    wire_tool_choice: str | dict[str, Any]

    def chat(self, previous: Sequence[ChatMessage] = (), *, files_account: str | None = None) -> ChatRequest:
        """The internal request: instructions, the stored conversation (its files on ``files_account``),
        then this input."""
        lead = (ChatMessage(role="system", text=self.instructions),) if self.instructions else ()
        return ChatRequest(
            model=self.model,
            messages=lead + name_results((*previous, *self.input)),
            stream=self.stream,
            max_tokens=self.max_output_tokens,
            include_usage=True,  # the Responses API always reports usage
            tools=self.tools,
            tool_choice=self.tool_choice,
            parallel_tool_calls=self.parallel_tool_calls,
            files_account=files_account,
        )


def parse_responses_request(
    body: Any, *, gpt_model: str = "deepseek-v4-flash", hosted_search: bool = False
) -> ResponsesRequest:
    """Validate a Responses body and map it; RequestError names the offending param.

    ``gpt_model`` (``chat.gpt_model``) answers for OpenAI's ``gpt-*`` names; the reply keeps the name sent.
    A declared ``web_search`` tool switches DeepSeek's search on only with ``hosted_search``
    (``chat.hosted_web_search = "search"``) or when ``tool_choice`` asks for it: Codex declares it on
    every request (seen 2026-11 with 0.171), which would make every turn a search with a source list.
    """
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object")
    try:
        wire = ResponsesRequestIn.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        raise RequestError(f"Invalid '{param}': {first['msg']}", param=param) from exc
    _refuse_unsupported(wire)
    items = [{"role": "user", "content": wire.input}] if isinstance(wire.input, str) else wire.input
    declared = [(tool, f"tools.{index}") for index, tool in enumerate(wire.tools or ())]
    declared += [
        (tool, f"input.{at}.tools.{index}")
        for at, item in enumerate(items)
        if item.get("type") == "additional_tools"
        for index, tool in enumerate(_listed(item))
    ]
    tools, custom, search = _tools(declared)
    effort = wire.reasoning.effort if wire.reasoning else None
    target = gpt_model if wire.model.strip().lower().startswith("gpt-") else wire.model
    model = _with_thinking(parse_model(target), effort)
    search = search and (hosted_search or _chooses_search(wire.tool_choice))
    if search and not model.search:
        model = dataclasses.replace(model, search=True)
    choice = _tool_choice(wire.tool_choice)
    allowed = _allowed_names(wire.tool_choice)
    if allowed is not None:
        tools = tuple(tool for tool in tools if tool.name in allowed)
    return ResponsesRequest(
        model=model,
        model_name=wire.model,
        instructions=wire.instructions or None,
        input=input_messages(items),
        stream=bool(wire.stream),
        store=wire.store is not False,  # stored unless asked not to, as in OpenAI
        previous_response_id=wire.previous_response_id or None,
        max_output_tokens=wire.max_output_tokens,
        tools=tools,
        custom_tools=custom,
        tool_choice=choice,
        parallel_tool_calls=wire.parallel_tool_calls is not False,
        effort=effort,
        wire_tools=tuple(wire.tools or ()),
        wire_tool_choice=wire.tool_choice or "auto",
    )


def _refuse_unsupported(wire: ResponsesRequestIn) -> None:
    if wire.text and wire.text.format and wire.text.format.type != "text":
        raise RequestError(
            f"text.format '{wire.text.format.type}' is not supported yet; leave text.format out "
            "(or use {'type': 'text'}) and describe the JSON you want in the instructions",
            param="text.format",
            code="unsupported_parameter",
        )
    for name in ("background", "conversation", "prompt"):
        if getattr(wire, name):
            raise RequestError(
                f"'{name}' is not supported by this server; use previous_response_id to continue",
                param=name,
                code="unsupported_parameter",
            )


def _with_thinking(model: ModelSpec, effort: Effort | None) -> ModelSpec:
    """Apply ``reasoning.effort`` unless the model name switched thinking itself."""
    if effort is None or _NAME_SWITCHES & set(model.name.strip().lower().split("-")):
        return model
    thinking = effort not in _THINKING_OFF
    fold = model.fold if thinking else False
    return dataclasses.replace(model, thinking=thinking, fold=fold)


def _listed(item: dict[str, Any]) -> list[dict[str, Any]]:
    tools = item.get("tools")
    return [tool for tool in tools if isinstance(tool, dict)] if isinstance(tools, list) else []


def _tools(
    declared: list[tuple[dict[str, Any], str]],
) -> tuple[tuple[ToolSpec, ...], frozenset[str], bool]:
    """Function and custom tools for the prompt, the custom tools' names, and whether search is on."""
    specs: list[ToolSpec] = []
    custom: set[str] = set()
    search = False
    pending = list(declared)
    while pending:
        tool, where = pending.pop(0)
        kind = str(tool.get("type", ""))
        if kind == "namespace":
            pending[:0] = [(inner, f"{where}.tools.{index}") for index, inner in enumerate(_listed(tool))]
        elif kind == "function":
            specs.append(_function(tool, f"{where}.parameters"))
        elif kind == "custom":
            specs.append(_custom(tool))
            custom.add(specs[-1].name)
        elif kind.startswith("web_search"):
            search = True
        # Any other type is a hosted tool this server cannot run: left out, not failed (CLIENTS.md).
    return tuple(specs), frozenset(custom), search


def _chooses_search(value: Any) -> bool:
    return isinstance(value, dict) and str(value.get("type", "")).startswith("web_search")


def _tool_name(tool: dict[str, Any]) -> str:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise RequestError(f"a {tool.get('type')} tool needs a 'name'", param="tools")
    return name


def _function(tool: dict[str, Any], param: str) -> ToolSpec:
    parameters = tool.get("parameters")
    return ToolSpec(
        _tool_name(tool),
        str(tool.get("description") or ""),
        parameters if isinstance(parameters, dict) else {"type": "object", "properties": {}},
        param=param,
    )


def _custom(tool: dict[str, Any]) -> ToolSpec:
    """A free-text tool as a function of one string, ``input``; a grammar goes into its description."""
    about = "The raw text input of this tool, written as-is (not JSON-encoded)."
    grammar = tool.get("format")
    if isinstance(grammar, dict) and grammar.get("type") == "grammar":
        syntax = grammar.get("syntax", "lark")
        about += f" It must follow this {syntax} grammar:\n{grammar.get('definition', '')}"
    schema = {
        "type": "object",
        "properties": {CUSTOM_INPUT: {"type": "string", "description": about}},
        "required": [CUSTOM_INPUT],
        "additionalProperties": False,
    }
    return ToolSpec(_tool_name(tool), str(tool.get("description") or ""), schema)


def _allowed_names(value: str | dict[str, Any] | None) -> frozenset[str] | None:
    """The tool names an ``allowed_tools`` choice keeps (None: every tool)."""
    if not isinstance(value, dict) or value.get("type") != "allowed_tools":
        return None
    listed = value.get("tools")
    entries = listed if isinstance(listed, list) else []
    return frozenset(str(entry.get("name")) for entry in entries if isinstance(entry, dict))


def _tool_choice(value: str | dict[str, Any] | None) -> ToolChoice:
    if value is None or value == "auto":
        return "auto"
    if value in ("none", "required"):
        return value  # type: ignore[return-value]
    if isinstance(value, dict) and value.get("type") in ("function", "custom"):
        name = value.get("name")
        if isinstance(name, str) and name:
            return NamedToolChoice(name)
    if isinstance(value, dict) and value.get("type") == "allowed_tools":
        return "required" if value.get("mode") == "required" else "auto"
    if _chooses_search(value):
        return "auto"  # search is on through tools; DeepSeek decides when to search
    raise RequestError(
        "tool_choice must be 'auto', 'none', 'required', or {'type': 'function'|'custom', 'name': ...}",
        param="tool_choice",
    )


__all__ = ["CUSTOM_INPUT", "ResponsesRequest", "ResponsesRequestIn", "parse_responses_request"]
