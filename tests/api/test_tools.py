"""Tool calls through the OpenAI chat dialect, with the simulator answering in DeepSeek's own markup."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.api.conftest import API_KEY, Stack, sdk_client, simulator_config, start_stack

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tools"
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    scripts = [
        {"pattern": "WEATHER-ONE", "answer": (FIXTURES / "dsml-v4.txt").read_text()},
        {"pattern": "WEATHER-TWO", "answer": (FIXTURES / "dsml-v32-ascii-parallel.txt").read_text()},
        {"pattern": "WEATHER-V3", "answer": (FIXTURES / "v3-markers.txt").read_text()},
        {"pattern": "EXAMPLE", "answer": (FIXTURES / "fenced-example.txt").read_text()},
        # The call written only in the reasoning, with an empty answer (seen with V3.2, PROTOCOL §6.4).
        {"pattern": "IN-REASONING", "thinking": (FIXTURES / "dsml-v4.txt").read_text(), "answer": ""},
    ]
    yield from start_stack(simulator_config(scripts=scripts), min_interval_s=0.0)


def client(stack: Stack) -> openai.OpenAI:
    return sdk_client(openai.OpenAI, stack.base_url, API_KEY)


def ask(stack: Stack, content: str, **extra: Any) -> Any:
    return client(stack).chat.completions.create(
        model="deepseek-chat", messages=[{"role": "user", "content": content}], tools=[WEATHER_TOOL], **extra
    )


def test_a_call_in_dsml_is_a_tool_call_with_schema_typed_arguments(stack: Stack) -> None:
    reply = ask(stack, "WEATHER-ONE please")
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather" and call.id
    assert json.loads(call.function.arguments) == {"city": "Paris", "days": 3}
    assert "DSML" not in (choice.message.content or "")
    sent = stack.upstream_requests("/chat/completion")[-1]["prompt"]
    assert "get_weather" in sent and "DSML" in sent  # the tools were offered in DeepSeek's own markup


def test_streamed_calls_arrive_as_indexed_fragments_and_no_markup_leaks(stack: Stack) -> None:
    stream = ask(stack, "WEATHER-TWO please", stream=True)
    content, finish = "", None
    calls: dict[int, dict[str, Any]] = {}
    for chunk in stream:
        delta = chunk.choices[0].delta
        content += delta.content or ""
        for piece in delta.tool_calls or ():
            entry = calls.setdefault(piece.index, {"id": None, "name": None, "arguments": ""})
            entry["id"] = entry["id"] or piece.id
            if piece.function is not None:
                entry["name"] = entry["name"] or piece.function.name
                entry["arguments"] += piece.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert "DSML" not in content and "<" not in content
    assert [c["name"] for c in calls.values()] == ["get_weather", "get_weather"]
    assert [json.loads(c["arguments"]) for c in calls.values()] == [
        {"city": "Paris"},
        {"city": "Rome", "days": 2},
    ]
    assert all(c["id"] for c in calls.values()) and len({c["id"] for c in calls.values()}) == 2


def test_v3_markers_are_read_too(stack: Stack) -> None:
    reply = ask(stack, "WEATHER-V3 please")
    assert reply.choices[0].finish_reason == "tool_calls"
    assert reply.choices[0].message.tool_calls[0].function.name == "get_weather"


def test_a_fenced_example_is_not_a_call_but_the_real_call_after_it_is(stack: Stack) -> None:
    reply = ask(stack, "EXAMPLE please")
    message = reply.choices[0].message
    assert [json.loads(c.function.arguments) for c in message.tool_calls] == [{"city": "Paris"}]
    assert "Oslo" in (message.content or "") and "```" in (message.content or "")


def test_a_round_trip_sends_the_call_and_its_result_back_in_the_same_markup(stack: Stack) -> None:
    first = ask(stack, "WEATHER-ONE please")
    call = first.choices[0].message.tool_calls[0]
    messages: Any = [
        {"role": "user", "content": "WEATHER-ONE please"},
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"},
    ]
    final = client(stack).chat.completions.create(
        model="deepseek-chat", messages=messages, tools=[WEATHER_TOOL]
    )
    sent = stack.upstream_requests("/chat/completion")[-1]["prompt"]
    assert 'invoke name="get_weather"' in sent and "sunny, 21 C" in sent
    assert final.choices[0].message.content


def test_a_call_written_only_in_the_reasoning_is_still_a_call(stack: Stack) -> None:
    reply = client(stack).chat.completions.create(
        model="deepseek-reasoner",
        messages=[{"role": "user", "content": "IN-REASONING please"}],
        tools=[WEATHER_TOOL],
    )
    choice: Any = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert [json.loads(c.function.arguments) for c in choice.message.tool_calls] == [
        {"city": "Paris", "days": 3}
    ]


def test_streamed_round_trip_and_the_sdk_stream_helper_match_the_plain_reply(stack: Stack) -> None:
    api = client(stack)
    plain = ask(stack, "WEATHER-ONE helper")
    with api.chat.completions.stream(
        model="deepseek-chat",
        messages=[{"role": "user", "content": "WEATHER-ONE helper"}],
        tools=[WEATHER_TOOL],
    ) as stream:
        final: Any = stream.get_final_completion()
    plain_call, streamed_call = plain.choices[0].message.tool_calls[0], final.choices[0].message.tool_calls[0]
    assert final.choices[0].finish_reason == plain.choices[0].finish_reason == "tool_calls"
    assert (streamed_call.function.name, json.loads(streamed_call.function.arguments)) == (
        plain_call.function.name,
        json.loads(plain_call.function.arguments),
    )
    messages: Any = [
        {"role": "user", "content": "WEATHER-ONE helper"},
        {"role": "assistant", "content": None, "tool_calls": [streamed_call.model_dump()]},
        {"role": "tool", "tool_call_id": streamed_call.id, "content": "sunny, 21 C"},
    ]
    text = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in api.chat.completions.create(
            model="deepseek-chat", messages=messages, tools=[WEATHER_TOOL], stream=True
        )
        if chunk.choices
    )
    assert text and "sunny, 21 C" in stack.upstream_requests("/chat/completion")[-1]["prompt"]
