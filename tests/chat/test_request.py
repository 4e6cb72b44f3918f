"""The internal chat request."""

from __future__ import annotations

import pytest

from deepseek_free_api.chat.models import parse_model
from deepseek_free_api.chat.request import (
    ChatMessage,
    ChatRequest,
    NamedToolChoice,
    ToolCall,
    ToolSpec,
)
from deepseek_free_api.errors import RequestError

HELLO = (ChatMessage(role="user", text="Hello"),)


def test_defaults_describe_a_plain_non_streaming_chat() -> None:
    request = ChatRequest(model=parse_model("deepseek-chat"), messages=HELLO)
    assert request.stream is False
    assert request.max_tokens is None
    assert request.stop == ()
    assert request.tool_choice == "auto"
    assert request.reasoning_mode == "reasoning_content"
    assert request.wants_tools is False


def test_model_suffix_decides_how_reasoning_is_shown() -> None:
    def mode(model: str, option: str = "think_tags") -> str:
        request = ChatRequest(model=parse_model(model), messages=HELLO, reasoning_output=option)  # type: ignore[arg-type]
        return request.reasoning_mode

    assert mode("deepseek-r1") == "think_tags"
    assert mode("deepseek-r1-silent") == "hidden"
    assert mode("deepseek-r1-fold") == "details"


def test_empty_messages_and_non_positive_max_tokens_are_bad_requests() -> None:
    model = parse_model("deepseek")
    with pytest.raises(RequestError) as info:
        ChatRequest(model=model, messages=())
    assert info.value.param == "messages"
    with pytest.raises(RequestError) as info:
        ChatRequest(model=model, messages=HELLO, max_tokens=0)
    assert info.value.param == "max_tokens"


def test_a_named_tool_choice_must_name_an_offered_tool() -> None:
    model = parse_model("deepseek")
    weather = ToolSpec(name="get_weather", parameters={"type": "object"})
    request = ChatRequest(
        model=model, messages=HELLO, tools=(weather,), tool_choice=NamedToolChoice("get_weather")
    )
    assert request.wants_tools
    with pytest.raises(RequestError) as info:
        ChatRequest(model=model, messages=HELLO, tools=(weather,), tool_choice=NamedToolChoice("search"))
    assert info.value.param == "tool_choice"
    assert not ChatRequest(model=model, messages=HELLO, tools=(weather,), tool_choice="none").wants_tools


def test_messages_carry_tool_calls_and_results() -> None:
    call = ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}')
    turn = ChatMessage(role="assistant", text="", tool_calls=(call,))
    result = ChatMessage(role="tool", text="sunny", tool_call_id="call_1", name="get_weather")
    assert turn.tool_calls[0].arguments == '{"city": "Paris"}'
    assert result.tool_call_id == "call_1"
    with pytest.raises(AttributeError):
        turn.text = "changed"  # type: ignore[misc]
