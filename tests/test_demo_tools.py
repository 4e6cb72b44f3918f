"""The demo (`serve --demo` in its own process) shows tool calls and structured answers.

The demo's own scripted replies (simulator/demo.toml) answer, through the official SDKs: a tool
call for "What is the weather in Paris?" when a weather tool is declared, in each dialect, then a
text that uses the tool's result; and JSON that fits the schema of a structured-output request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any, Literal

import anthropic
import pytest
from openai import OpenAI
from pydantic import BaseModel, Field

from tests.support.processes import demo_server

DEMO_KEY = "sk-my-service-key"
QUESTION = "What is the weather in Paris?"
RESULT = "Sunny, 22 °C"
WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city"],
}
CHAT_TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": WEATHER_SCHEMA,
        },
    }
]


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    with demo_server() as demo:
        yield demo.url


@pytest.fixture
def openai_client(demo_url: str) -> OpenAI:
    return OpenAI(base_url=demo_url + "/v1", api_key=DEMO_KEY, max_retries=0, timeout=60)


def test_openai_chat_calls_the_weather_tool_then_answers_with_its_result(openai_client: OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    reply = openai_client.chat.completions.create(
        model="deepseek-v4-flash", messages=messages, tools=CHAT_TOOLS
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None and len(choice.message.tool_calls) == 1
    call: Any = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}

    messages += [choice.message, {"role": "tool", "tool_call_id": call.id, "content": RESULT}]
    final = openai_client.chat.completions.create(
        model="deepseek-v4-flash", messages=messages, tools=CHAT_TOOLS
    )
    assert final.choices[0].finish_reason == "stop"
    assert final.choices[0].message.tool_calls is None
    assert RESULT in (final.choices[0].message.content or "")


def test_openai_chat_streams_the_tool_call(openai_client: OpenAI) -> None:
    stream = openai_client.chat.completions.create(
        model="deepseek-chat",
        messages=[{"role": "user", "content": QUESTION}],
        tools=CHAT_TOOLS,
        stream=True,
    )
    names, arguments, finish = [], [], None
    for chunk in stream:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or ():
                if delta.function and delta.function.name:
                    names.append(delta.function.name)
                if delta.function and delta.function.arguments:
                    arguments.append(delta.function.arguments)
            finish = choice.finish_reason or finish
    assert names == ["get_weather"] and finish == "tool_calls"
    assert json.loads("".join(arguments)) == {"city": "Paris"}


def test_example_tool_call_calls_the_first_declared_tool(openai_client: OpenAI) -> None:
    # The demo's "example tool call" prompt, after a system message (its script used to need the
    # prompt to start a line, which a system message or the tool instructions prevent).
    email = {
        "type": "object",
        "properties": {
            "to": {"type": "string", "format": "email"},
            "subject": {"type": "string"},
            "urgent": {"type": "boolean"},
            "cc": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["to", "subject", "urgent"],
    }
    tools: Any = [{"type": "function", "function": {"name": "send_email", "parameters": email}}, *CHAT_TOOLS]
    messages: Any = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "example tool call"},
    ]
    reply = openai_client.chat.completions.create(model="deepseek-chat", messages=messages, tools=tools)
    assert reply.choices[0].finish_reason == "tool_calls"
    call: Any = (reply.choices[0].message.tool_calls or [])[0]
    assert call.function.name == "send_email"
    assert json.loads(call.function.arguments) == {
        "to": "user@example.com",
        "subject": "example",
        "urgent": False,
    }


def test_a_weather_question_without_tools_is_answered_in_text(openai_client: OpenAI) -> None:
    reply = openai_client.chat.completions.create(
        model="deepseek-chat", messages=[{"role": "user", "content": QUESTION}]
    )
    assert reply.choices[0].finish_reason == "stop"
    assert (reply.choices[0].message.content or "").startswith(f"Echo: {QUESTION}")


def test_responses_calls_the_weather_tool_then_answers_with_its_result(openai_client: OpenAI) -> None:
    tools: Any = [{"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA, "strict": False}]
    reply = openai_client.responses.create(model="deepseek-v4-flash", input=QUESTION, tools=tools)
    calls = [item for item in reply.output if item.type == "function_call"]
    assert reply.status == "completed" and len(calls) == 1
    assert calls[0].name == "get_weather" and json.loads(calls[0].arguments) == {"city": "Paris"}

    follow_up: Any = [{"type": "function_call_output", "call_id": calls[0].call_id, "output": RESULT}]
    final = openai_client.responses.create(
        model="deepseek-v4-flash", previous_response_id=reply.id, input=follow_up, tools=tools
    )
    assert not [item for item in final.output if item.type == "function_call"]
    assert RESULT in final.output_text


def test_anthropic_calls_the_weather_tool_then_answers_with_its_result(demo_url: str) -> None:
    client = anthropic.Anthropic(base_url=demo_url, api_key=DEMO_KEY, max_retries=0, timeout=60)
    tools: Any = [
        {"name": "get_weather", "description": "The weather in a city.", "input_schema": WEATHER_SCHEMA}
    ]
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    reply = client.messages.create(model="claude-sonnet-4-6", max_tokens=1024, tools=tools, messages=messages)
    uses = [block for block in reply.content if block.type == "tool_use"]
    assert reply.stop_reason == "tool_use" and len(uses) == 1
    assert uses[0].name == "get_weather" and uses[0].input == {"city": "Paris"}

    result: Any = {"type": "tool_result", "tool_use_id": uses[0].id, "content": RESULT}
    messages += [{"role": "assistant", "content": reply.content}, {"role": "user", "content": [result]}]
    final = client.messages.create(model="claude-sonnet-4-6", max_tokens=1024, tools=tools, messages=messages)
    assert final.stop_reason == "end_turn"
    texts = [block.text for block in final.content if block.type == "text"]
    assert texts and RESULT in texts[-1]


class Address(BaseModel):
    street: str
    postcode: str = Field(min_length=5, max_length=5)


class City(BaseModel):
    name: str
    country: Literal["FR", "DE"]
    population: int = Field(ge=1)
    founded: date
    districts: list[str] = Field(min_length=2)
    town_hall: Address
    nickname: str | None = None


def test_a_json_schema_request_gets_json_that_validates(openai_client: OpenAI) -> None:
    # .parse sends the model's JSON schema (strict) and validates the answer with pydantic.
    reply = openai_client.chat.completions.parse(
        model="deepseek-v4-flash",
        messages=[{"role": "user", "content": "Describe the capital of France."}],
        response_format=City,
    )
    city = reply.choices[0].message.parsed
    assert isinstance(city, City)
    assert city.country == "FR" and city.population >= 1 and len(city.districts) == 2


def test_a_json_object_request_gets_a_json_object(openai_client: OpenAI) -> None:
    reply = openai_client.chat.completions.create(
        model="deepseek-chat",
        messages=[{"role": "user", "content": "List three colours as JSON."}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(reply.choices[0].message.content or ""), dict)


def test_an_anthropic_output_format_request_gets_json_that_validates(demo_url: str) -> None:
    client = anthropic.Anthropic(base_url=demo_url, api_key=DEMO_KEY, max_retries=0, timeout=60)
    schema = City.model_json_schema()
    reply = client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=1024,
        messages=[{"role": "user", "content": "Describe the capital of Germany."}],
        extra_body={"output_config": {"format": {"type": "json_schema", "schema": schema}}},
    )
    texts = [block.text for block in reply.content if block.type == "text"]
    assert City.model_validate_json(texts[-1]).population >= 1
