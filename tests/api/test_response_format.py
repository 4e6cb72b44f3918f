"""``response_format`` through the server, with the simulator scripting the model's answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from pydantic import BaseModel

from tests.api.conftest import API_KEY, Stack, sdk_client, simulator_config, start_stack

PERSON_FORMAT: Any = {
    "type": "json_schema",
    "json_schema": {
        "name": "person",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "age"],
            "additionalProperties": False,
        },
    },
}


SCRIPTS = [
    # What the model says when asked to repair an answer (first: a folded repair prompt also
    # holds the first question), then the first answers: valid, or missing the schema.
    {"pattern": "got 'thirty-six'", "answer": '{"name": "Ada", "age": 36}'},
    {"pattern": "got 'forty'", "answer": "Sorry, I cannot say how old she is."},
    {"pattern": "ADA-VALID", "answer": '```json\n{"name": "Ada", "age": 36}\n```'},
    {"pattern": "OBJECT-PLEASE", "answer": '{"ok": true}'},
    {"pattern": "ADA-REPAIR", "answer": '{"name": "Ada", "age": "thirty-six"}'},
    {"pattern": "ADA-BROKEN", "answer": '{"name": "Ada", "age": "forty"}'},
]


class Person(BaseModel):
    name: str
    age: int


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from start_stack(simulator_config(scripts=SCRIPTS), min_interval_s=0.0)


def client(stack: Stack) -> openai.OpenAI:
    return sdk_client(openai.OpenAI, stack.base_url, API_KEY)


def body(content: str, response_format: Any = PERSON_FORMAT, **extra: Any) -> dict[str, Any]:
    return {
        "model": "deepseek-chat",
        "messages": [{"role": "user", "content": content}],
        "response_format": response_format,
        **extra,
    }


def post(stack: Stack, payload: dict[str, Any]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    return httpx.post(stack.base_url + "/chat/completions", json=payload, headers=headers, timeout=30)


def completions(stack: Stack) -> list[dict[str, Any]]:
    return stack.upstream_requests("/chat/completion")


def test_json_schema_without_its_schema_object_is_a_clear_400(stack: Stack) -> None:
    before = len(completions(stack))
    response = post(stack, body("ADA-VALID", {"type": "json_schema"}))
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("missing_required_parameter", "response_format.json_schema")
    assert len(completions(stack)) == before


def test_the_sdk_parse_helper_gets_a_typed_answer_and_the_model_was_told_the_schema(stack: Stack) -> None:
    reply = client(stack).chat.completions.parse(
        model="deepseek-chat",
        messages=[{"role": "user", "content": "ADA-VALID please"}],
        response_format=Person,
    )
    message = reply.choices[0].message
    assert message.parsed == Person(name="Ada", age=36)
    assert message.content == '{"name": "Ada", "age": 36}'  # the fence the model added is gone
    assert reply.choices[0].finish_reason == "stop"
    prompt = completions(stack)[-1]["prompt"]
    assert "one JSON value and nothing else" in prompt and '"required":["name","age"]' in prompt


def test_json_object_answers_one_object(stack: Stack) -> None:
    reply = post(stack, body("OBJECT-PLEASE", {"type": "json_object"}))
    assert reply.status_code == 200, reply.text
    assert json.loads(reply.json()["choices"][0]["message"]["content"]) == {"ok": True}
    assert "one JSON object and nothing else" in completions(stack)[-1]["prompt"]


def test_a_stream_delivers_the_checked_answer(stack: Stack) -> None:
    stream = client(stack).chat.completions.create(
        model="deepseek-chat",
        messages=[{"role": "user", "content": "ADA-VALID again"}],
        response_format=PERSON_FORMAT,
        stream=True,
    )
    content, finish = "", None
    for chunk in stream:
        content += chunk.choices[0].delta.content or ""
        finish = chunk.choices[0].finish_reason or finish
    assert (json.loads(content), finish) == ({"name": "Ada", "age": 36}, "stop")


@pytest.mark.parametrize("streaming", [False, True])
def test_an_answer_that_misses_the_schema_is_repaired_in_the_same_session(
    stack: Stack, streaming: bool
) -> None:
    before = len(completions(stack))
    stream = client(stack).chat.completions.create(
        model="deepseek-chat",
        messages=[{"role": "user", "content": "ADA-REPAIR please"}],
        response_format=PERSON_FORMAT,
        stream=streaming,
        stream_options={"include_usage": True} if streaming else None,
    )
    if isinstance(stream, openai.Stream):
        chunks = list(stream)
        reply_id = chunks[0].id
        content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        reply_id, content = stream.id, stream.choices[0].message.content or ""
    assert json.loads(content) == {"name": "Ada", "age": 36}
    first, repair = completions(stack)[before:]
    assert first["body"]["parent_message_id"] is None
    session, message = reply_id.split(".")[0].split("@")
    assert repair["body"]["chat_session_id"] == first["body"]["chat_session_id"] == session
    assert repair["body"]["parent_message_id"] == int(message) - 2  # right after the first answer
    assert "ADA-REPAIR" not in repair["prompt"]  # a native continuation: only the new turn goes up
    assert "age: expected integer, got 'thirty-six'" in repair["prompt"]


def test_an_answer_invalid_twice_is_a_clear_502(stack: Stack) -> None:
    before = len(completions(stack))
    response = post(stack, body("ADA-BROKEN please"))
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "invalid_json_output"
    assert "after one repair round" in error["message"] and "not valid JSON" in error["message"]
    assert len(completions(stack)) - before == 2  # one repair round, no more, and no other account


def test_the_sdks_default_retries_do_not_pay_for_a_failed_structured_answer_again(stack: Stack) -> None:
    # The SDKs retry a 502 twice by default: one failed `llm --schema` command was six generations.
    before = len(completions(stack))
    with openai.OpenAI(base_url=stack.base_url, api_key=API_KEY) as sdk:  # default max_retries (2)
        with pytest.raises(openai.InternalServerError) as caught:
            sdk.chat.completions.create(
                model="deepseek-chat",
                messages=[{"role": "user", "content": "ADA-BROKEN with the default retries"}],
                response_format=PERSON_FORMAT,
            )
    assert len(completions(stack)) - before == 2  # the answer and its repair round: one command, two
    assert caught.value.status_code == 502 and caught.value.response.headers["x-should-retry"] == "false"
    schema = PERSON_FORMAT["json_schema"]["schema"]
    with anthropic.Anthropic(base_url=stack.server.url, api_key=API_KEY) as claude:
        with pytest.raises(anthropic.InternalServerError):
            claude.messages.create(
                model="claude-haiku-4-5",
                max_tokens=256,
                messages=[{"role": "user", "content": "ADA-BROKEN for Claude"}],
                extra_body={"output_config": {"format": {"type": "json_schema", "schema": schema}}},
            )
    assert len(completions(stack)) - before == 4


def test_a_stream_invalid_twice_ends_in_an_error_not_an_answer(stack: Stack) -> None:
    with pytest.raises(openai.APIError) as caught:
        for _ in client(stack).chat.completions.create(
            model="deepseek-chat",
            messages=[{"role": "user", "content": "ADA-BROKEN again"}],
            response_format=PERSON_FORMAT,
            stream=True,
        ):
            pass
    assert caught.value.body["code"] == "invalid_json_output"  # type: ignore[index]


def test_when_sessions_are_deleted_the_repair_folds_the_conversation_into_a_new_one() -> None:
    for deleting in start_stack(
        simulator_config(scripts=SCRIPTS), session_delete="delete", min_interval_s=0.0
    ):
        reply = post(deleting, body("ADA-REPAIR please"))
        assert reply.status_code == 200, reply.text
        assert json.loads(reply.json()["choices"][0]["message"]["content"]) == {"name": "Ada", "age": 36}
        first, repair = completions(deleting)
        assert repair["body"]["parent_message_id"] is None
        assert repair["body"]["chat_session_id"] != first["body"]["chat_session_id"]
        assert "ADA-REPAIR please" in repair["prompt"] and "got 'thirty-six'" in repair["prompt"]
