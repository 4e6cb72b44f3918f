"""OpenAI Responses (``/v1/responses``) with the official SDK against the real server and the simulator."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from deepseek_free_api.api import responses_api
from deepseek_free_api.api.responses_models import parse_responses_request
from deepseek_free_api.api.responses_render import ResponseRenderer
from deepseek_free_api.app import create_app
from deepseek_free_api.background import BackgroundServer
from deepseek_free_api.chat.events import Completed, TokenUsage
from deepseek_free_api.chat.inline import base64_data
from deepseek_free_api.chat.request import Attachment, ChatMessage, ToolCall
from deepseek_free_api.chat.responses_store import (
    KeptResponse,
    conversation_of,
    from_record,
    to_record,
    with_file_ids,
)
from deepseek_free_api.config import load_settings
from deepseek_free_api.errors import RequestError, UpstreamTimeoutError
from deepseek_free_api.simulator import create_app as create_simulator
from deepseek_free_api.stores.memory import MemoryResponses
from deepseek_free_api.stores.protocols import ResponseLimits
from tests.api.conftest import API_KEY, TOKENS, Stack, sdk_client, simulator_config, start_stack

OTHER_KEY = "sk-test-other-service-key"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tools"
PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch"
PATCH_CALL = (
    '<｜DSML｜tool_calls>\n<｜DSML｜invoke name="apply_patch">\n'
    f'<｜DSML｜parameter name="input" string="true">{PATCH}</｜DSML｜parameter>\n'
    "</｜DSML｜invoke>\n</｜DSML｜tool_calls>"
)
TOOLS: list[Any] = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
        "strict": False,
    },
    {
        "type": "custom",
        "name": "apply_patch",
        "description": "Edit files with a patch.",
        "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"},
    },
]
EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
SEARCH_CHOICE: Any = {"type": "web_search"}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    config = simulator_config(
        scripts=[
            {"pattern": "LONG-ANSWER", "answer": "{echo}", "answer_chars": 600},
            {"pattern": "WEATHER-ONE", "answer": (FIXTURES / "dsml-v4.txt").read_text()},
            {"pattern": "PATCH-IT", "answer": PATCH_CALL},
        ],
    )
    with BackgroundServer(create_simulator(config)) as simulator:
        options = {
            "base_url": simulator.url,
            "tokens": list(TOKENS),
            "api_keys": [API_KEY, OTHER_KEY],
            "keepalive_interval_s": 5.0,
            "store.url": "memory://",
        }
        app = create_app(load_settings(overrides=options, env={}))
        with BackgroundServer(app) as server:
            yield Stack(simulator, server)


@pytest.fixture(autouse=True)
def no_faults(stack: Stack) -> Iterator[None]:
    # The simulator is not reset between tests: a reset turns the prepared proof of work stale.
    yield
    stack.sim("DELETE", "/_sim/faults")


def client(stack: Stack, key: str = API_KEY) -> openai.OpenAI:
    return sdk_client(openai.OpenAI, stack.base_url, key)


def last_prompt(stack: Stack) -> str:
    prompt: str = stack.upstream_requests("/chat/completion")[-1]["body"]["prompt"]
    return prompt


def raw_events(stack: Stack, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The SSE events of a streamed request, each checked against the SDK's event types."""
    events: list[dict[str, Any]] = []
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.stream(
        "POST", stack.base_url + "/responses", json={**body, "stream": True}, headers=headers, timeout=30
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                event = json.loads(line.removeprefix("data: "))
                assert event["type"] == name
                EVENTS.validate_python(event)  # strict: every required field, right literals
                events.append(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events


def without_ids(response: Response) -> dict[str, Any]:
    data = response.model_dump()
    data.pop("id")
    data.pop("created_at")
    for item in data["output"]:
        item.pop("id", None)
        item.pop("call_id", None)
        item.pop("parsed_arguments", None)  # the stream helper's ParsedResponse adds it
        for part in item.get("content") or ():
            part.pop("parsed", None)  # the stream helper's ParsedResponse adds it
    return data


def test_text_reply(stack: Stack) -> None:
    reply = client(stack).responses.create(model="deepseek-chat", input="hello there")
    assert reply.object == "response" and reply.id.startswith("resp_")
    assert reply.status == "completed"
    assert reply.output_text.startswith("Echo: hello there | model=default thinking=false")
    assert [item.type for item in reply.output] == ["message"]
    assert reply.usage is not None
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 5
    assert reply.usage.total_tokens == reply.usage.input_tokens + reply.usage.output_tokens
    Response.model_validate(reply.model_dump())  # strict: the whole object is the SDK's type


def test_reasoning_model_gives_a_reasoning_item(stack: Stack) -> None:
    reply = client(stack).responses.create(model="deepseek-reasoner", input="think about it")
    reasoning, message = reply.output
    assert reasoning.type == "reasoning"
    assert reasoning.summary[0].text.startswith("The user said: think about it")
    assert message.type == "message" and "thinking=true" in reply.output_text
    assert reply.usage is not None and reply.usage.output_tokens_details.reasoning_tokens > 0


@pytest.mark.parametrize(
    ("model", "effort", "thinking"),
    [
        ("deepseek-v4-flash", "minimal", "false"),
        ("deepseek-v4-flash", "none", "false"),
        ("deepseek-chat", "high", "true"),
        ("deepseek-v4-flash-nothinking", "high", "false"),  # the name's own switch wins
        ("deepseek-r1", "none", "true"),
    ],
)
def test_reasoning_effort_switches_thinking(stack: Stack, model: str, effort: Any, thinking: str) -> None:
    reply = client(stack).responses.create(model=model, input="effort", reasoning={"effort": effort})
    assert f"thinking={thinking}" in reply.output_text


def test_instructions_and_developer_messages_reach_the_model(stack: Stack) -> None:
    reply = client(stack).responses.create(
        model="deepseek-chat",
        instructions="Answer like a pirate.",
        input=[
            {"type": "message", "role": "developer", "content": "Keep it short."},
            {"role": "user", "content": [{"type": "input_text", "text": "ahoy"}]},
        ],
    )
    assert reply.output_text.startswith("Echo: ahoy")
    assert reply.instructions == "Answer like a pirate."
    assert last_prompt(stack) == "Answer like a pirate.\n\nKeep it short.<｜User｜>ahoy"


def test_previous_response_id_continues_the_conversation(stack: Stack) -> None:
    sdk = client(stack)
    first = sdk.responses.create(model="deepseek-chat", instructions="Be kind.", input="first question")
    second = sdk.responses.create(
        model="deepseek-chat", previous_response_id=first.id, input="second question"
    )
    assert second.previous_response_id == first.id
    assert second.output_text.startswith("Echo: second question")
    # Earlier instructions are not carried over (as in OpenAI); the earlier turns are.
    assert last_prompt(stack) == (
        f"first question<｜Assistant｜>{first.output_text}<｜User｜>second question"
    )
    # Same (no) instructions as the second: it goes on in the second's session with only its input.
    third = sdk.responses.create(model="deepseek-chat", previous_response_id=second.id, input="third")
    earlier, sent = stack.upstream_requests("/chat/completion")[-2:]
    assert sent["prompt"] == "third"
    assert sent["body"]["chat_session_id"] == earlier["body"]["chat_session_id"]
    assert sent["body"]["parent_message_id"] == 2  # the second's answer, first in its session
    assert third.output_text.startswith("Echo: third")


def test_get_returns_the_stored_response(stack: Stack) -> None:
    sdk = client(stack)
    created = sdk.responses.create(model="deepseek-reasoner", input="keep me")
    fetched = sdk.responses.retrieve(created.id)
    assert fetched.model_dump() == created.model_dump()


def test_store_false_is_not_kept(stack: Stack) -> None:
    sdk = client(stack)
    reply = sdk.responses.create(model="deepseek-chat", input="forget me", store=False)
    assert getattr(reply, "store", None) is False  # not a field of the SDK's type: an extra
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.responses.retrieve(reply.id)
    assert caught.value.body["code"] == "response_not_found"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError) as continued:
        sdk.responses.create(model="deepseek-chat", previous_response_id=reply.id, input="and now?")
    assert continued.value.body["param"] == "previous_response_id"  # type: ignore[index]
    assert continued.value.body["code"] == "previous_response_not_found"  # type: ignore[index]


def test_another_key_cannot_read_or_continue_a_response(stack: Stack) -> None:
    reply = client(stack).responses.create(model="deepseek-chat", input="mine")
    other = client(stack, OTHER_KEY)
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(reply.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.create(model="deepseek-chat", previous_response_id=reply.id, input="yours?")


def test_delete_forgets_a_response_for_its_owner_only(stack: Stack) -> None:
    sdk = client(stack)
    reply = sdk.responses.create(model="deepseek-chat", input="delete me")
    with pytest.raises(openai.NotFoundError):
        client(stack, OTHER_KEY).responses.delete(reply.id)
    sdk.responses.delete(reply.id)  # the SDK returns None; a non-2xx would raise
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(reply.id)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.delete(reply.id)
    raw = httpx.delete(
        f"{stack.base_url}/responses/{sdk.responses.create(model='deepseek-chat', input='x').id}",
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert raw.status_code == 200 and raw.json()["deleted"] is True and raw.json()["object"] == "response"


def test_input_items_list_the_request_input_newest_first(stack: Stack) -> None:
    sdk = client(stack)

    def texts(page: Any) -> list[str]:
        return [item.content[0].text for item in page.data]

    first = sdk.responses.create(model="deepseek-chat", input="just text")
    items: Any = sdk.responses.input_items.list(first.id)
    assert [(item.type, item.role) for item in items.data] == [("message", "user")]
    assert texts(items) == ["just text"]
    conversation: Any = [
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": [{"type": "input_text", "text": "one"}]},
        {"role": "assistant", "content": "two"},
        {"role": "user", "content": "three"},
    ]
    reply = sdk.responses.create(model="deepseek-chat", input=conversation)
    newest_first: Any = sdk.responses.input_items.list(reply.id)
    assert texts(newest_first) == ["three", "two", "one", "be brief"]
    assert all(item.id for item in newest_first.data)
    oldest: Any = sdk.responses.input_items.list(reply.id, order="asc", limit=2)
    assert texts(oldest) == ["be brief", "one"] and oldest.has_more is True
    rest = sdk.responses.input_items.list(reply.id, order="asc", after=oldest.last_id)
    assert texts(rest) == ["two", "three"]
    # inline bytes are not kept with the stored response
    image: Any = [{"type": "input_text", "text": "see"}, {"type": "input_image", "image_url": PNG_URL}]
    with_image = sdk.responses.create(model="deepseek-v4-vision", input=[{"role": "user", "content": image}])
    listed: Any = sdk.responses.input_items.list(with_image.id)
    part = listed.data[0].content[1].model_dump_json()
    assert PNG_URL[22:60] not in part and "not kept" in part
    with pytest.raises(openai.NotFoundError):
        client(stack, OTHER_KEY).responses.input_items.list(reply.id)


def test_max_output_tokens_makes_it_incomplete(stack: Stack) -> None:
    reply = client(stack).responses.create(model="deepseek-chat", input="LONG-ANSWER", max_output_tokens=20)
    assert reply.status == "incomplete"
    assert reply.incomplete_details is not None and reply.incomplete_details.reason == "max_output_tokens"
    assert reply.max_output_tokens == 20
    assert reply.usage is not None and reply.usage.output_tokens <= 20
    events = raw_events(stack, {"model": "deepseek-chat", "input": "LONG-ANSWER", "max_output_tokens": 20})
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert events[-1]["response"]["output"][0]["status"] == "incomplete"


def test_stream_events_are_complete_and_in_order(stack: Stack) -> None:
    events = raw_events(stack, {"model": "deepseek-reasoner", "input": "stream it"})
    kinds = [event["type"] for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    for needed in (
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
    ):
        assert needed in kinds
    added = [e["output_index"] for e in events if e["type"] == "response.output_item.added"]
    done = [e["output_index"] for e in events if e["type"] == "response.output_item.done"]
    assert added == done == [0, 1]
    final = events[-1]["response"]
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert final["output"][1]["content"][0]["text"] == text
    assert final["usage"]["output_tokens"] > 0


@pytest.mark.parametrize("model", ["deepseek-chat", "deepseek-reasoner"])
def test_streamed_final_response_equals_the_plain_one(stack: Stack, model: str) -> None:
    sdk = client(stack)
    plain = sdk.responses.create(model=model, input="same either way")
    with sdk.responses.stream(model=model, input="same either way") as stream:
        seen = [event.type for event in stream]
        streamed = stream.get_final_response()
    assert "response.output_text.delta" in seen
    assert without_ids(streamed) == without_ids(plain)
    events = list(sdk.responses.create(model=model, input="same either way", stream=True))
    assert events[-1].type == "response.completed"
    assert without_ids(events[-1].response) == without_ids(plain)


def test_a_declared_web_search_tool_alone_does_not_search_and_hosted_tools_are_left_out(stack: Stack) -> None:
    # Codex declares web_search on every request: by default that must not make every turn a search.
    tools: Any = [{"type": "web_search"}, {"type": "image_generation"}]
    reply = client(stack).responses.create(model="deepseek-chat", input="look it up", tools=tools)
    assert "search=false" in reply.output_text
    assert [tool.type for tool in reply.tools] == ["web_search", "image_generation"]
    chosen = client(stack).responses.create(
        model="deepseek-chat", input="look it up", tools=tools, tool_choice=SEARCH_CHOICE
    )
    assert "search=true" in chosen.output_text
    suffix = client(stack).responses.create(model="deepseek-chat-search", input="look it up", tools=tools)
    assert "search=true" in suffix.output_text


def test_hosted_web_search_setting_lets_a_declared_tool_search() -> None:
    searching = start_stack(simulator_config(), api_keys=[API_KEY], hosted_web_search="search")
    stack = next(searching)
    try:
        tools: Any = [{"type": "web_search_preview"}]
        reply = client(stack).responses.create(model="deepseek-chat", input="look it up", tools=tools)
        assert "search=true" in reply.output_text
    finally:
        searching.close()


def test_the_response_store_bounds_come_from_the_settings() -> None:
    bounded = start_stack(
        simulator_config(),
        api_keys=[API_KEY, OTHER_KEY],
        **{"store.responses_max_per_owner": 2, "store.responses_ttl_s": 2},
    )
    stack = next(bounded)
    try:
        mine = [client(stack).responses.create(model="deepseek-chat", input=f"n{n}").id for n in range(3)]
        theirs = client(stack, OTHER_KEY).responses.create(model="deepseek-chat", input="other").id
        with pytest.raises(openai.NotFoundError):
            client(stack).responses.retrieve(mine[0])  # over the per-owner bound: the oldest went
        assert [client(stack).responses.retrieve(i).id for i in mine[1:]] == mine[1:]
        assert client(stack, OTHER_KEY).responses.retrieve(theirs).id == theirs  # its own bound
        time.sleep(2.5)
        with pytest.raises(openai.NotFoundError):
            client(stack).responses.retrieve(mine[2])  # past store.responses_ttl_s
    finally:
        bounded.close()


def test_tool_history_items_reach_the_model(stack: Stack) -> None:
    tools: list[Any] = [
        {"type": "function", "name": "read_file", "parameters": {"type": "object", "properties": {}}},
        {"type": "custom", "name": "apply_patch", "description": "Edit files."},
    ]
    reply = client(stack).responses.create(
        model="deepseek-chat",
        tools=tools,
        input=[
            {"role": "user", "content": "fix it"},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
            {"type": "function_call", "call_id": "call_1", "name": "read_file", "arguments": '{"p": "a"}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "file body"},
            {"type": "custom_tool_call", "call_id": "call_2", "name": "apply_patch", "input": "*** Begin"},
            {
                "type": "custom_tool_call_output",
                "call_id": "call_2",
                "output": [{"type": "input_text", "text": "patched"}],
            },
        ],
    )
    prompt = last_prompt(stack)
    assert '<tool_result name="read_file">file body</tool_result>' in prompt
    assert '<tool_result name="apply_patch">patched</tool_result>' in prompt
    assert 'name="input" string="true">*** Begin<' in prompt  # the custom call, re-rendered
    assert "opaque" not in prompt
    assert reply.status == "completed"


def error_of(stack: Stack, body: dict[str, Any], key: str | None = API_KEY) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx.post(stack.base_url + "/responses", json=body, headers=headers, timeout=30)
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return response.status_code, error


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": "nope-model", "input": "hi"}, 404, "model"),  # gpt-* names map to chat.gpt_model
        ({"model": "deepseek-chat"}, 400, "input"),
        (
            {
                "model": "deepseek-chat",
                "input": [{"role": "user", "content": [{"type": "input_image", "image_url": "data:,"}]}],
            },
            400,
            "input[0].content.0.image_url",
        ),
        (
            {
                "model": "deepseek-chat",
                "input": "hi",
                "text": {"format": {"type": "json_schema", "schema": {}}},
            },
            400,
            "text.format",
        ),
        ({"model": "deepseek-chat", "input": [{"type": "item_reference", "id": "x"}]}, 400, "input[0]"),
        ({"model": "deepseek-chat", "input": "hi", "previous_response_id": "resp_unknown"}, 404, None),
    ],
)
def test_errors_before_the_stream_are_openai_envelopes(
    stack: Stack, body: dict[str, Any], status: int, param: str | None
) -> None:
    before = len(stack.upstream_requests("/chat/completion"))
    for stream in (False, True):
        got, error = error_of(stack, {**body, "stream": stream})
        assert got == status, error
        assert error["param"] == (param or "previous_response_id")
    assert len(stack.upstream_requests("/chat/completion")) == before


def test_missing_credentials_are_401(stack: Stack) -> None:
    status, error = error_of(stack, {"model": "deepseek-chat", "input": "hi"}, key=None)
    assert status == 401 and error["type"] == "authentication_error"
    with pytest.raises(openai.AuthenticationError):
        client(stack, "sk-wrong").responses.retrieve("resp_x")


def test_failure_after_the_stream_started_is_response_failed(stack: Stack) -> None:
    stack.sim("POST", "/_sim/faults", json={"fault": "drop_mid_stream", "times": 0, "after": 3})
    events = raw_events(stack, {"model": "deepseek-chat", "input": "LONG-ANSWER"})
    assert events[0]["type"] == "response.created"
    assert events[-1]["type"] == "response.failed"
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["message"]
    assert failed["output"][0]["status"] == "incomplete"


def renderer_for(body: dict[str, Any]) -> ResponseRenderer:
    return ResponseRenderer(parse_responses_request(body), "resp_0123", created_at=1)


def test_tool_calls_render_as_function_and_custom_tool_call_items() -> None:
    renderer = renderer_for(
        {
            "model": "deepseek-chat",
            "input": "edit",
            "tools": [
                {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
                {
                    "type": "custom",
                    "name": "apply_patch",
                    "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"},
                },
            ],
        }
    )
    events = renderer.tool_call(ToolCall("call_a", "exec_command", '{"cmd": "ls"}'))
    events += renderer.tool_call(ToolCall("call_b", "apply_patch", '{"input": "*** Begin Patch"}'))
    events += renderer.render(Completed("tool_use", TokenUsage(3, 4, 0)))
    for event in events:
        EVENTS.validate_python(event)
    kinds = [event["type"] for event in events]
    assert "response.function_call_arguments.done" in kinds
    assert "response.custom_tool_call_input.done" in kinds
    response = Response.model_validate(events[-1]["response"])
    call, custom = response.output
    assert call.type == "function_call" and call.arguments == '{"cmd": "ls"}' and call.call_id == "call_a"
    assert custom.type == "custom_tool_call" and custom.input == "*** Begin Patch"
    assert response.status == "completed"
    assert renderer.answer().tool_calls == (
        ToolCall("call_a", "exec_command", '{"cmd": "ls"}'),
        ToolCall("call_b", "apply_patch", '{"input": "*** Begin Patch"}'),
    )


def test_custom_tools_reach_the_chat_request_as_one_string_parameter() -> None:
    parsed = parse_responses_request(
        {
            "model": "deepseek-chat",
            "input": "x",
            "tools": [
                {
                    "type": "custom",
                    "name": "apply_patch",
                    "format": {"type": "grammar", "definition": "start: X"},
                },
                {"type": "tool_search"},
            ],
            "tool_choice": {"type": "custom", "name": "apply_patch"},
        }
    )
    chat = parsed.chat()
    (tool,) = chat.tools
    assert tool.name == "apply_patch" and parsed.custom_tools == {"apply_patch"}
    assert tool.parameters["required"] == ["input"]
    assert "start: X" in tool.parameters["properties"]["input"]["description"]
    assert chat.include_usage is True


def test_a_kept_response_holds_file_ids_not_attachment_bytes_and_reads_back() -> None:
    content = base64_data(base64.b64encode(b"\x89PNG" + b"x" * 100_000).decode(), "input[0]")
    image = Attachment("image", "cat.png", "image/png", inline=content, param="input[0]")
    asked = (
        ChatMessage(role="user", text="what is this?", attachments=(image,)),
        ChatMessage(role="assistant", text="", tool_calls=(ToolCall("c1", "look", '{"a": 1}'),)),
        ChatMessage(role="tool", text="done", tool_call_id="c1", name="look"),
    )
    conversation = with_file_ids(asked, ["file-1"])
    kept = KeptResponse("resp_1", "me", conversation, b'{"id": "resp_1"}', b'[{"id":"msg_1"}]', "alpha")
    record = to_record(kept, 1.0)
    assert record.size < 1000  # the 100 kB of image bytes are not in it
    assert from_record(record) == kept
    (message, *_) = conversation
    assert message.attachments[0].file_id == "file-1" and message.attachments[0].inline is None
    store = MemoryResponses(ResponseLimits())
    unmatched = with_file_ids(asked, [])  # the turn's ids did not line up: no id, and a follow-up is refused
    with pytest.raises(RequestError, match="was not kept"):
        asyncio.run(
            conversation_of(store, replace(kept, messages=unmatched), "previous_response_id", max_links=9)
        )


def test_a_failure_after_only_keepalives_still_opens_the_response() -> None:
    # The stream's headers go out with the first keep-alive once an account is leased; an error
    # after that and before any event must still be a well-formed event sequence.
    dialect = responses_api.ResponsesDialect(renderer_for({"model": "deepseek-chat", "input": "x"}))
    frames = dialect.keepalive() + dialect.error_frame(UpstreamTimeoutError("no byte in time"))
    events = [
        json.loads(line.removeprefix(b"data: ")) for line in frames.splitlines() if line.startswith(b"data: ")
    ]
    for event in events:
        EVENTS.validate_python(event)
    assert [event["type"] for event in events] == [
        "response.created",
        "response.in_progress",
        "response.failed",
    ]
    assert events[-1]["response"]["error"] == {"code": "server_error", "message": "no byte in time"}


def test_a_function_call_in_dsml_is_a_function_call_item(stack: Stack) -> None:
    sdk = client(stack)
    reply = sdk.responses.create(model="deepseek-chat", input="WEATHER-ONE please", tools=TOOLS)
    message, call = reply.output
    assert message.type == "message" and reply.output_text.strip() == "Let me look that up."
    assert call.type == "function_call" and call.name == "get_weather" and call.call_id
    assert json.loads(call.arguments) == {"city": "Paris", "days": 3}
    assert reply.status == "completed"
    assert "get_weather" in last_prompt(stack)  # the tool was offered
    with sdk.responses.stream(model="deepseek-chat", input="WEATHER-ONE please", tools=TOOLS) as stream:
        for _ in stream:
            pass
        assert without_ids(stream.get_final_response()) == without_ids(reply)
    events = raw_events(stack, {"model": "deepseek-chat", "input": "WEATHER-ONE please", "tools": TOOLS})
    kinds = [event["type"] for event in events]
    assert "response.function_call_arguments.delta" in kinds
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert json.loads(done["arguments"]) == {"city": "Paris", "days": 3}


def test_a_custom_tool_call_carries_the_raw_text(stack: Stack) -> None:
    reply = client(stack).responses.create(model="deepseek-chat", input="PATCH-IT", tools=TOOLS)
    (call,) = reply.output
    assert call.type == "custom_tool_call" and call.name == "apply_patch"
    assert call.input == PATCH
    events = raw_events(stack, {"model": "deepseek-chat", "input": "PATCH-IT", "tools": TOOLS})
    done = next(e for e in events if e["type"] == "response.custom_tool_call_input.done")
    assert done["input"] == PATCH
    assert events[-1]["type"] == "response.completed"


def test_a_tool_round_trip_with_previous_response_id(stack: Stack) -> None:
    sdk = client(stack)
    first = sdk.responses.create(model="deepseek-chat", input="WEATHER-ONE please", tools=TOOLS)
    call = first.output[-1]
    assert call.type == "function_call"
    second = sdk.responses.create(
        model="deepseek-chat",
        previous_response_id=first.id,
        tools=TOOLS,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 25 C"}],
    )
    # The session holds the question and the call: only the result goes up, with the tools offered
    # again (as on every continued turn), so the model still knows them.
    prompt = last_prompt(stack)
    assert "WEATHER-ONE please" not in prompt and "sunny, 25 C" in prompt
    assert "get_weather" in prompt
    assert second.status == "completed" and second.output_text


def test_null_fields_count_as_unset(stack: Stack) -> None:
    body: dict[str, Any] = {"model": "deepseek-chat", "input": "nulls"}
    body |= dict.fromkeys(("stream", "store", "instructions", "tools", "tool_choice", "reasoning", "text"))
    response = httpx.post(
        stack.base_url + "/responses", json=body, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["output_text"].startswith("Echo: nulls") and reply["store"] is True
    assert client(stack).responses.retrieve(reply["id"]).id == reply["id"]


PNG_URL = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def test_an_input_image_is_uploaded_and_referenced_by_the_completion(stack: Stack) -> None:
    content: Any = [
        {"type": "input_text", "text": "what is this?"},
        {"type": "input_image", "image_url": PNG_URL},
    ]
    reply = client(stack).responses.create(
        model="deepseek-v4-vision", input=[{"role": "user", "content": content}]
    )
    assert reply.status == "completed"
    sent = stack.upstream_requests("/chat/completion")[-1]
    assert sent["body"]["ref_file_ids"] and sent["body"]["model_type"] == "vision"
    assert stack.upstream_requests("/file/upload_file")
