"""The official ``anthropic`` SDK against the real server, with the simulator as DeepSeek."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pydantic
import pytest
from anthropic.types import RawMessageStreamEvent

from deepseek_free_api.api.model_names import ClaudeModels
from deepseek_free_api.config import ConfigError, load_settings
from deepseek_free_api.errors import ModelNotFoundError
from tests.api.conftest import API_KEY, Stack, sdk_client, simulator_config, start_stack

SLOW = {
    "pattern": "SLOW",
    "answer": "{echo}",
    "answer_chars": 600,
    "pacing": {"chunks_per_second": 20, "chunk_chars": 8},
}
# A 1x1 transparent PNG.
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
BILLING = "x-anthropic-billing-header: cc_version=2.1.0.abc; cc_entrypoint=cli;"
EVENTS: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RawMessageStreamEvent)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    config = simulator_config(scripts=[SLOW, {"pattern": "LONGISH", "answer": "{echo}", "answer_chars": 300}])
    yield from start_stack(config, min_interval_s=0.0, keepalive_interval_s=0.2)


@pytest.fixture(autouse=True)
def no_faults(stack: Stack) -> Iterator[None]:
    yield
    stack.sim("DELETE", "/_sim/faults")


@pytest.fixture(scope="module")
def tight() -> Iterator[Stack]:
    """No queue at all: a request that finds every account busy is refused at once."""
    config = simulator_config(scripts=[SLOW], busy_after_disconnect_seconds=60)
    yield from start_stack(config, max_waiters=0, min_interval_s=0.0)


def client(stack: Stack, key: str | None = API_KEY) -> anthropic.Anthropic:
    return sdk_client(anthropic.Anthropic, stack.server.url, key)


def text_of(block: Any, field: str = "text") -> str:
    """A text or thinking block's text (the content list is a union of block types)."""
    value = getattr(block, field)
    assert isinstance(value, str)
    return value


def ask(text: str, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("model", "claude-haiku-4-5")
    kwargs.setdefault("max_tokens", 1024)
    return {"messages": [{"role": "user", "content": text}], **kwargs}


def raw_events(stack: Stack, body: dict[str, Any], path: str = "/v1/messages") -> list[tuple[str, Any]]:
    """(event name, parsed data) of every SSE event, read as bytes off the socket."""
    events: list[tuple[str, Any]] = []
    headers = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}
    with httpx.stream("POST", stack.server.url + path, json=body, headers=headers, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, httpx.Response(200, content=line[6:]).json()))
    return events


def test_plain_message_non_stream(stack: Stack) -> None:
    # sampling knobs and metadata are accepted (the web chat has none) and change nothing
    reply = client(stack).messages.create(
        **ask(
            "hello there",
            metadata={"user_id": "u-1"},
            extra_body={"temperature": 0.2, "top_p": 0.9, "top_k": 5},  # this SDK no longer sends them
        )
    )
    assert reply.type == "message" and reply.role == "assistant" and reply.id.startswith("msg_")
    assert reply.model == "claude-haiku-4-5"
    assert [block.type for block in reply.content] == ["text"]
    text = text_of(reply.content[0])
    assert text.startswith("Echo: hello there | model=default thinking=false")  # haiku -> deepseek-chat
    assert reply.stop_reason == "end_turn" and reply.stop_sequence is None
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 5


def test_stream_events_parse_and_assemble_to_the_non_stream_reply(stack: Stack) -> None:
    body = ask("same either way", model="claude-opus-4-1", stream=True)
    events = raw_events(stack, body, "/v1/messages?beta=true")
    for name, data in events:
        assert name == data["type"]
        if name == "ping":  # a keep-alive: the SDK skips it before parsing, as Anthropic's own
            assert data == {"type": "ping"}
        else:
            EVENTS.validate_python(data)  # the SDK's own event types
    events = [(name, data) for name, data in events if name != "ping"]
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert events[0][1]["message"]["usage"]["input_tokens"] > 0
    # opus -> deepseek-v4-pro thinks: a thinking block (deltas, one signature) and then a text block
    starts = [data["content_block"]["type"] for name, data in events if name == "content_block_start"]
    assert starts == ["thinking", "text"]
    assert names.count("content_block_stop") == 2
    deltas = [data["delta"]["type"] for name, data in events if name == "content_block_delta"]
    assert (
        deltas.index("signature_delta") == max(i for i, d in enumerate(deltas) if d == "thinking_delta") + 1
    )

    sdk = client(stack)
    with sdk.messages.stream(**ask("same either way", model="claude-opus-4-1")) as stream:
        streamed = stream.get_final_message()
    plain = sdk.messages.create(**ask("same either way", model="claude-opus-4-1"))
    assert [block.model_dump() for block in streamed.content] == [
        block.model_dump() for block in plain.content
    ]
    assert streamed.content[0].type == "thinking" and streamed.content[0].signature
    assert streamed.stop_reason == plain.stop_reason == "end_turn"
    assert streamed.usage.input_tokens == plain.usage.input_tokens
    assert streamed.usage.output_tokens == plain.usage.output_tokens > 0


def test_thinking_enabled_switches_thinking_on(stack: Stack) -> None:
    sdk = client(stack)
    reply = sdk.messages.create(**ask("think please", thinking={"type": "enabled", "budget_tokens": 2048}))
    assert [block.type for block in reply.content] == ["thinking", "text"]
    assert text_of(reply.content[0], "thinking").startswith("The user said: think please")
    assert "thinking=true" in text_of(reply.content[1])
    off = sdk.messages.create(**ask("quiet please", model="claude-opus-4-1", thinking={"type": "disabled"}))
    assert [block.type for block in off.content] == ["text"]
    assert "model=expert thinking=false" in text_of(off.content[0])


def test_system_blocks_reach_the_prompt_without_the_billing_header(stack: Stack) -> None:
    system = [
        {"type": "text", "text": BILLING},
        {"type": "text", "text": "You are a careful assistant.", "cache_control": {"type": "ephemeral"}},
    ]
    client(stack).messages.create(**ask("who are you", system=system))
    sent = stack.upstream_requests("/chat/completion")[-1]
    assert sent["prompt"] == "You are a careful assistant.<｜User｜>who are you"


def test_stop_sequences(stack: Stack) -> None:
    reply = client(stack).messages.create(**ask("stop here", stop_sequences=[" | model"]))
    assert text_of(reply.content[0]) == "Echo: stop here"
    assert reply.stop_reason == "stop_sequence" and reply.stop_sequence == " | model"


def test_max_tokens_ends_with_stop_reason_max_tokens(stack: Stack) -> None:
    sdk = client(stack)
    reply = sdk.messages.create(**ask("a long story please", max_tokens=3))
    assert reply.stop_reason == "max_tokens"
    with sdk.messages.stream(**ask("a long story please", max_tokens=3)) as stream:
        assert stream.get_final_message().stop_reason == "max_tokens"


def test_tool_history_and_tools_are_accepted(stack: Stack) -> None:
    tools: Any = [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}]
    messages: Any = [
        {"role": "user", "content": "weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny, 21 C"}],
        },
    ]
    reply = client(stack).messages.create(
        model="claude-haiku-4-5", max_tokens=512, messages=messages, tools=tools, tool_choice={"type": "auto"}
    )
    assert reply.content[0].type == "text"
    prompt = stack.upstream_requests("/chat/completion")[-1]["prompt"]
    # The tools are offered, and earlier calls and results re-rendered, in DeepSeek's DSML.
    assert "get_weather" in prompt.split("weather in Paris?")[0]
    assert "weather in Paris?<｜Assistant｜>Let me look." in prompt
    assert 'invoke name="get_weather"' in prompt and ">Paris<" in prompt
    assert prompt.endswith("sunny, 21 C</tool_result>")


def test_count_tokens(stack: Stack) -> None:
    sdk = client(stack)
    short = sdk.messages.count_tokens(model="claude-sonnet-4-6", messages=[{"role": "user", "content": "hi"}])
    longer = sdk.messages.count_tokens(
        model="claude-sonnet-4-6",
        system="You are terse.",
        messages=[{"role": "user", "content": "hi " * 200}],
    )
    assert 0 < short.input_tokens < longer.input_tokens
    reply = sdk.messages.create(**ask("hi", model="claude-sonnet-4-6"))
    assert reply.usage.input_tokens == short.input_tokens  # the same prompt, counted the same way


def test_count_tokens_counts_tools_and_system_as_the_request_sends_them(stack: Stack) -> None:
    sdk = client(stack)
    tools: Any = [
        {
            "name": "read_file",
            "description": "Read a file from the workspace and return its text.",
            "input_schema": {
                "type": "object",
                "properties": {"path": {"type": "string", "description": "Path relative to the root"}},
                "required": ["path"],
            },
        }
    ]
    messages: Any = [{"role": "user", "content": "hi"}]
    bare = sdk.messages.count_tokens(model="claude-sonnet-4-6", messages=messages).input_tokens
    with_tools = sdk.messages.count_tokens(model="claude-sonnet-4-6", messages=messages, tools=tools)
    # The tool instructions are a large part of what DeepSeek receives (was: the same 1-token count).
    assert with_tools.input_tokens > bare + 50
    with sdk.messages.stream(
        model="claude-sonnet-4-6", max_tokens=64, messages=messages, tools=tools
    ) as stream:
        started = next(event for event in stream if event.type == "message_start")
        assert started.message.usage.input_tokens == with_tools.input_tokens


def test_a_system_role_inside_messages_is_an_instruction(stack: Stack) -> None:
    # Claude Code with its default model sends one (a 400 and a retry on every run before).
    messages: Any = [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "hello"},
    ]
    reply = client(stack).messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=messages)
    assert reply.content[-1].type == "text"
    prompt = stack.upstream_requests("/chat/completion")[-1]["prompt"]
    assert prompt == "Answer in French.<｜User｜>hello"


def test_missing_key_is_authentication_error(stack: Stack) -> None:
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client(stack, key="sk-wrong").messages.create(**ask("hi"))
    assert caught.value.body["type"] == "error"  # type: ignore[index]
    assert caught.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    response = httpx.post(stack.server.url + "/v1/messages", json=ask("hi"), timeout=10)
    assert response.status_code == 401 and response.json()["error"]["type"] == "authentication_error"


def test_unknown_model_is_not_found_error(stack: Stack) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        client(stack).messages.create(**ask("hi", model="gpt-4o"))
    assert caught.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_missing_max_tokens_is_a_bad_request(stack: Stack) -> None:
    body = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(stack.server.url + "/v1/messages", json=body, headers={"x-api-key": API_KEY})
    assert response.status_code == 400
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens: Field required",
    }


def test_an_image_for_a_model_without_vision_is_a_clear_bad_request(stack: Stack) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}}
    content: Any = [{"type": "text", "text": "what is this?"}, image]
    with pytest.raises(anthropic.BadRequestError) as caught:
        client(stack).messages.create(
            model="claude-haiku-4-5", max_tokens=100, messages=[{"role": "user", "content": content}]
        )
    error = caught.value.body["error"]  # type: ignore[index]
    assert error["type"] == "invalid_request_error" and "vision" in error["message"]
    assert all("what is this" not in r["prompt"] for r in stack.upstream_requests("/chat/completion"))


def test_a_document_block_is_uploaded_and_referenced_by_the_completion(stack: Stack) -> None:
    document = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "hello"}}
    content: Any = [{"type": "text", "text": "summarise the file"}, document]
    reply = client(stack).messages.create(
        model="claude-haiku-4-5", max_tokens=100, messages=[{"role": "user", "content": content}]
    )
    assert reply.content[-1].type == "text"
    [upload] = stack.upstream_requests("/file/upload_file")[-1:]
    sent = stack.upstream_requests("/chat/completion")[-1]
    assert sent["body"]["ref_file_ids"] and upload["path"].endswith("/file/upload_file")


def _hold_stream(stack: Stack, started: threading.Event, done: threading.Event) -> None:
    with client(stack).messages.stream(**ask("SLOW")) as stream:
        for _ in stream.text_stream:
            started.set()
            if done.is_set():
                break


def test_full_queue_is_rate_limit_error_with_retry_after(tight: Stack) -> None:
    done = threading.Event()
    events = [threading.Event(), threading.Event()]
    threads = [threading.Thread(target=_hold_stream, args=(tight, e, done)) for e in events]
    for thread in threads:
        thread.start()
    try:
        assert all(e.wait(15) for e in events)
        with pytest.raises(anthropic.RateLimitError) as caught:
            client(tight).messages.create(**ask("third"))
        assert int(caught.value.response.headers["retry-after"]) >= 1
        assert caught.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    finally:
        done.set()
        for thread in threads:
            thread.join(15)


def test_silence_sends_ping_events_and_a_late_failure_is_an_error_event(stack: Stack) -> None:
    stack.sim("POST", "/_sim/faults", json={"fault": "stall", "times": 1, "seconds": 1})
    events = raw_events(stack, ask("wait for it", stream=True))
    assert ("ping", {"type": "ping"}) in events
    assert events[-1][0] == "message_stop"

    stack.sim("POST", "/_sim/faults", json={"fault": "drop_mid_stream", "times": 0, "after": 3})
    events = raw_events(stack, ask("LONGISH", stream=True))
    assert events[0][0] == "message_start"
    name, data = events[-1]
    assert name == "error" and data["type"] == "error" and data["error"]["type"] == "api_error"
    with pytest.raises(anthropic.APIStatusError) as caught:
        with client(stack).messages.stream(**ask("LONGISH")) as stream:
            stream.get_final_message()
    assert caught.value.body["error"]["type"] == "api_error"  # type: ignore[index]


def test_claude_names_map_by_family_and_other_names_parse_as_deepseek_models() -> None:
    models = ClaudeModels()
    assert models.resolve("claude-opus-4-1").model_type == "expert"
    assert models.resolve("claude-sonnet-4-6").name == "deepseek-v4-flash"
    assert models.resolve("claude-3-5-haiku-latest").name == "deepseek-chat"
    assert models.resolve("claude-instant-1.2").name == "deepseek-v4-flash"
    assert models.resolve("deepseek-r1-search").search
    custom = ClaudeModels(sonnet="deepseek-v4-pro-nothinking")
    assert custom.resolve("claude-sonnet-4-6").thinking is False
    with pytest.raises(ModelNotFoundError):
        ClaudeModels(opus="gpt-4o")


def test_the_model_map_is_a_setting() -> None:
    env = {"DEEPSEEK_FREE_API_CHAT_CLAUDE_OPUS_MODEL": "deepseek-v4-pro-search"}
    chat = load_settings(env=env).chat
    assert chat.claude_opus_model == "deepseek-v4-pro-search"
    assert (chat.claude_sonnet_model, chat.claude_haiku_model) == ("deepseek-v4-flash", "deepseek-chat")
    assert ClaudeModels.from_settings(chat).resolve("claude-opus-4-1").search
    wrong = load_settings(env={"DEEPSEEK_FREE_API_CHAT_CLAUDE_HAIKU_MODEL": "gpt-4o"}).chat
    with pytest.raises(ConfigError, match="chat.claude_haiku_model"):
        ClaudeModels.from_settings(wrong)
