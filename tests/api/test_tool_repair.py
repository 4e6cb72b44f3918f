"""A tool call the model writes wrong gets one repair round instead of ending the agent's turn as markup.

The simulator answers the first question with a malformed call (a required parameter missing, an
undeclared tool, a value of the wrong type) and the repair message with another answer, keyed on
the reason the server gives it. Checked in the three dialects, through the official SDKs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.api.conftest import API_KEY, Stack, sdk_client, simulator_config, start_stack

WRITE_FILE: Any = {
    "name": "write_file",
    "description": "Write a text file",
    "parameters": {
        "type": "object",
        "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["path", "content"],
    },
}
RUN_COMMAND: Any = {
    "name": "run_command",
    "description": "Run a shell command",
    "parameters": {
        "type": "object",
        "properties": {"command": {"type": "string"}, "timeout": {"type": "integer"}},
        "required": ["command"],
    },
}
OPENAI_TOOLS: Any = [{"type": "function", "function": tool} for tool in (WRITE_FILE, RUN_COMMAND)]
PREAMBLE = "Writing the file now.\n\n"
SECRET = "SOON-7731"  # an argument value: it must never reach the log


def dsml(name: str, **params: str) -> str:
    """A call in DeepSeek V4's DSML markup, every parameter as text."""
    body = "".join(
        f'<｜DSML｜parameter name="{k}" string="true">{v}</｜DSML｜parameter>\n' for k, v in params.items()
    )
    invoke = f'<｜DSML｜invoke name="{name}">\n{body}</｜DSML｜invoke>'
    return f"<｜DSML｜tool_calls>\n{invoke}\n</｜DSML｜tool_calls>"


SCRIPTS = [
    # The repair round's answers, keyed on what the server says was wrong.
    {
        "pattern": "content: is required",
        "scope": "last_turn",
        "answer": dsml("write_file", path="notes.txt", content="hi"),
    },
    {
        "pattern": "'create_file' is not one",
        "scope": "last_turn",
        "answer": dsml("create_file", path="a.txt"),
    },
    {"pattern": "command: is required", "scope": "last_turn", "answer": dsml("run_command", timeout=SECRET)},
    # The first answers.
    {"pattern": "MAKE-FILE", "scope": "last_turn", "answer": PREAMBLE + dsml("write_file", path="notes.txt")},
    {"pattern": "UNDECLARED", "scope": "last_turn", "answer": dsml("create_file", path="a.txt")},
    {"pattern": "RUN-IT", "scope": "last_turn", "answer": dsml("run_command", timeout=SECRET)},
]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from start_stack(simulator_config(scripts=SCRIPTS), min_interval_s=0.0)


def chat(stack: Stack, content: str, **extra: Any) -> Any:
    return sdk_client(openai.OpenAI, stack.base_url, API_KEY).chat.completions.create(
        model="deepseek-chat", messages=[{"role": "user", "content": content}], tools=OPENAI_TOOLS, **extra
    )


def completions_since(stack: Stack, before: int) -> list[dict[str, Any]]:
    """The bodies of the chat/completion requests the simulator got since ``before`` of them."""
    return [r["body"] for r in stack.upstream_requests("/chat/completion")[before:]]


def test_a_call_missing_a_parameter_is_repaired_in_the_same_session(stack: Stack) -> None:
    before = len(stack.upstream_requests("/chat/completion"))
    reply = chat(stack, "MAKE-FILE notes.txt")
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "write_file",
        {"path": "notes.txt", "content": "hi"},
    )
    assert choice.message.content == PREAMBLE  # what went out before the call, without markup
    first, repair = completions_since(stack, before)
    assert repair["chat_session_id"] == first["chat_session_id"]  # the same DeepSeek session
    assert repair["parent_message_id"] == 2  # after the stopped answer (ids 1 and 2 in a new session)
    assert "content: is required" in repair["prompt"] and "MAKE-FILE" not in repair["prompt"]
    # The conversation id the caller got continues after the repaired answer, not the stopped one.
    sdk = sdk_client(openai.OpenAI, stack.base_url, API_KEY)
    sdk.chat.completions.create(
        model="deepseek-chat",
        messages=[{"role": "user", "content": "thanks"}],
        extra_body={"conversation_id": reply.id},
    )
    follow_up = completions_since(stack, before)[-1]
    assert (follow_up["chat_session_id"], follow_up["parent_message_id"]) == (first["chat_session_id"], 4)


def test_a_streamed_repair_sends_the_text_then_the_repaired_call(stack: Stack) -> None:
    content, finish = "", None
    calls: dict[int, dict[str, str]] = {}
    ids: set[str] = set()
    for chunk in chat(stack, "MAKE-FILE please", stream=True):
        ids.add(chunk.id)
        delta = chunk.choices[0].delta
        content += delta.content or ""
        for piece in delta.tool_calls or ():
            entry = calls.setdefault(piece.index, {"name": "", "arguments": ""})
            if piece.function is not None:
                entry["name"] += piece.function.name or ""
                entry["arguments"] += piece.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls" and len(ids) == 1
    assert content == PREAMBLE and "DSML" not in content
    assert [(c["name"], json.loads(c["arguments"])) for c in calls.values()] == [
        ("write_file", {"path": "notes.txt", "content": "hi"})
    ]


def test_responses_get_the_repaired_function_call(stack: Stack) -> None:
    tools: Any = [{"type": "function", **tool} for tool in (WRITE_FILE, RUN_COMMAND)]
    sdk = sdk_client(openai.OpenAI, stack.base_url, API_KEY)
    reply = sdk.responses.create(model="deepseek-chat", input="MAKE-FILE here", tools=tools)
    [call] = [item for item in reply.output if item.type == "function_call"]
    assert call.name == "write_file" and json.loads(call.arguments) == {"path": "notes.txt", "content": "hi"}
    assert "DSML" not in reply.output_text


def test_anthropic_gets_the_repaired_tool_use(stack: Stack) -> None:
    tools: Any = [
        {"name": t["name"], "description": t["description"], "input_schema": t["parameters"]}
        for t in (WRITE_FILE, RUN_COMMAND)
    ]
    sdk = sdk_client(anthropic.Anthropic, stack.server.url, API_KEY)
    reply = sdk.messages.create(
        model="claude-haiku-4-5",
        max_tokens=1024,
        tools=tools,
        messages=[{"role": "user", "content": "MAKE-FILE there"}],
    )
    assert reply.stop_reason == "tool_use"
    [use] = [block for block in reply.content if block.type == "tool_use"]
    assert use.name == "write_file" and use.input == {"path": "notes.txt", "content": "hi"}
    assert all("DSML" not in getattr(block, "text", "") for block in reply.content)


def test_a_call_still_malformed_after_the_repair_goes_out_as_a_call(stack: Stack) -> None:
    before = len(stack.upstream_requests("/chat/completion"))
    choice = chat(stack, "RUN-IT now").choices[0]
    assert choice.finish_reason == "tool_calls"  # the agent runs it, fails, and tells the model why
    [call] = choice.message.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == ("run_command", {"timeout": SECRET})
    assert len(completions_since(stack, before)) == 2  # one repair round, no more


def test_an_undeclared_tool_after_the_repair_goes_out_under_its_name(stack: Stack) -> None:
    choice = chat(stack, "UNDECLARED tool").choices[0]
    assert choice.finish_reason == "tool_calls" and not choice.message.content
    [call] = choice.message.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == ("create_file", {"path": "a.txt"})


def test_each_parse_decision_is_logged_at_debug_with_the_reason_and_no_argument(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="deepseek_free_api.chat.tools")
    chat(stack, "RUN-IT again")
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("deepseek_free_api.chat.tools")]
    reason = "timeout: expected integer, got string; command: is required"
    assert f"tool call 'run_command': rejected, {reason}" in lines
    assert f"tool call 'run_command': sent although {reason}" in lines
    assert any("repair round" in line for line in lines), lines
    assert not any(SECRET in line for line in lines)


@pytest.fixture(scope="module")
def deleting() -> Iterator[Stack]:
    yield from start_stack(simulator_config(scripts=SCRIPTS), session_delete="delete", min_interval_s=0.0)


def test_with_sessions_deleted_the_repair_folds_the_conversation_into_a_new_session(deleting: Stack) -> None:
    before = len(deleting.upstream_requests("/chat/completion"))
    [call] = chat(deleting, "MAKE-FILE folded").choices[0].message.tool_calls
    assert json.loads(call.function.arguments) == {"path": "notes.txt", "content": "hi"}
    first, repair = completions_since(deleting, before)
    assert repair["chat_session_id"] != first["chat_session_id"] and repair["parent_message_id"] is None
    assert "MAKE-FILE folded" in repair["prompt"] and 'invoke name="write_file"' in repair["prompt"]
