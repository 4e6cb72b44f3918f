"""tool_use through the Anthropic dialect: the simulator answers in DeepSeek's DSML markup."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.api.conftest import API_KEY, Stack, sdk_client, simulator_config, start_stack

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tools"
WEATHER: Any = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    scripts = [
        {"pattern": "sunny, 21 C", "answer": "It is sunny in Paris."},  # the follow-up (tool result)
        {"pattern": "WEATHER-ONE", "answer": (FIXTURES / "dsml-v4.txt").read_text()},
        {"pattern": "TITLE-ME", "answer": '{"title": "Weather chat"}'},
    ]
    yield from start_stack(simulator_config(scripts=scripts), min_interval_s=0.0)


def client(stack: Stack) -> anthropic.Anthropic:
    return sdk_client(anthropic.Anthropic, stack.server.url, API_KEY)


def ask(stack: Stack, messages: Any) -> Any:
    return client(stack).messages.create(
        model="claude-haiku-4-5", max_tokens=1024, tools=[WEATHER], messages=messages
    )


def test_a_dsml_call_is_a_tool_use_block_and_the_round_trip_completes(stack: Stack) -> None:
    first = ask(stack, [{"role": "user", "content": "WEATHER-ONE please"}])
    assert first.stop_reason == "tool_use"
    [call] = [block for block in first.content if block.type == "tool_use"]
    assert call.name == "get_weather" and call.input == {"city": "Paris", "days": 3}
    assert call.id.startswith("toolu_")
    assert all("DSML" not in getattr(block, "text", "") for block in first.content)
    history: Any = [
        {"role": "user", "content": "WEATHER-ONE please"},
        {"role": "assistant", "content": [block.model_dump() for block in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 21 C"}],
        },
    ]
    final = ask(stack, history)
    assert final.stop_reason == "end_turn"
    assert final.content[-1].type == "text" and "sunny" in final.content[-1].text
    # The follow-up goes on in the session that holds the call (chat.session_reuse): only the result
    # goes up, with the tools offered again.
    called, sent = stack.upstream_requests("/chat/completion")[-2:]
    assert sent["body"]["chat_session_id"] == called["body"]["chat_session_id"]
    assert "sunny, 21 C" in sent["prompt"] and "WEATHER-ONE" not in sent["prompt"]
    assert "get_weather" in sent["prompt"]


def test_the_streamed_tool_use_assembles_to_the_same_message(stack: Stack) -> None:
    with client(stack).messages.stream(
        model="claude-haiku-4-5",
        max_tokens=1024,
        tools=[WEATHER],
        messages=[{"role": "user", "content": "WEATHER-ONE again"}],
    ) as stream:
        streamed = stream.get_final_message()
    assert streamed.stop_reason == "tool_use"
    [call] = [block for block in streamed.content if block.type == "tool_use"]
    assert call.input == {"city": "Paris", "days": 3}


def test_output_config_format_is_honoured_like_response_format(stack: Stack) -> None:
    # Claude Code's title request: a JSON schema the answer must follow.
    schema = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
    reply = client(stack).messages.create(
        model="claude-haiku-4-5",
        max_tokens=256,
        messages=[{"role": "user", "content": "TITLE-ME: a chat about weather"}],
        extra_body={"output_config": {"format": {"type": "json_schema", "schema": schema}}},
    )
    assert json.loads(getattr(reply.content[-1], "text", "")) == {"title": "Weather chat"}
    sent = stack.upstream_requests("/chat/completion")[-1]["prompt"]
    assert '"title"' in sent  # the schema was given to the model


def test_a_streamed_round_trip_completes(stack: Stack) -> None:
    sdk = client(stack)
    with sdk.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=1024,
        tools=[WEATHER],
        messages=[{"role": "user", "content": "WEATHER-ONE s"}],
    ) as stream:
        first = stream.get_final_message()
    [call] = [block for block in first.content if block.type == "tool_use"]
    history: Any = [
        {"role": "user", "content": "WEATHER-ONE s"},
        {"role": "assistant", "content": [block.model_dump() for block in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 21 C"}],
        },
    ]
    with sdk.messages.stream(
        model="claude-haiku-4-5", max_tokens=1024, tools=[WEATHER], messages=history
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "end_turn" and "sunny" in getattr(final.content[-1], "text", "")
