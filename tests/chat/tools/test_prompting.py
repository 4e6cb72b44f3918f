"""What the model is told: the tool instructions, and earlier calls and results in its own format."""

from __future__ import annotations

import json
import re

import pytest

from deepseek_free_api.chat.prompt import ASSISTANT_MARKER, USER_MARKER, fold_messages, new_turn_prompt
from deepseek_free_api.chat.request import ChatMessage, NamedToolChoice, ToolCall, ToolChoice, ToolSpec
from deepseek_free_api.chat.tools import render_tool_calls, render_tool_result, tool_instructions
from tests.chat.tools.helpers import TOOLS, WEATHER, parser, run


def test_instructions_list_every_tool_with_its_schema() -> None:
    text = tool_instructions(TOOLS)
    listed = [json.loads(line) for line in text.splitlines() if line.startswith('{"name"')]
    assert listed == [
        {"name": t.name, "description": t.description, "parameters": dict(t.parameters)} for t in TOOLS
    ]


def test_the_instructed_example_is_read_back_as_a_call() -> None:
    """The format we ask for is one the parser reads, placeholders filled in as a model would."""
    text = tool_instructions(TOOLS)
    example = re.search(r"<｜DSML｜tool_calls>.*?</｜DSML｜tool_calls>", text, re.S)
    assert example is not None
    written = (
        example.group(0)
        .replace("TOOL_NAME", "get_weather")
        .replace("PARAMETER_NAME", "city")
        .replace("text value", "Oslo")
        .replace("OTHER_PARAMETER", "days")
        .replace("JSON value", "3")
    )
    assert run([written]).calls == [("get_weather", {"city": "Oslo", "days": 3})]


@pytest.mark.parametrize(
    ("choice", "line"),
    [
        ("auto", "Call a tool when it helps to answer; otherwise answer normally, without a block."),
        ("required", "You must call at least one of the tools in this reply."),
        (NamedToolChoice("f"), 'You must call the tool "f" in this reply, and no other tool.'),
    ],
)
def test_tool_choice_becomes_the_last_instruction(choice: ToolChoice, line: str) -> None:
    assert tool_instructions(TOOLS, choice).endswith(line)


def test_no_instructions_without_tools_or_with_choice_none() -> None:
    assert tool_instructions(()) == "" and tool_instructions(TOOLS, "none") == ""


def test_parallel_calls_off_asks_for_one_call() -> None:
    assert "Call at most one tool per reply" in tool_instructions(TOOLS, parallel=False)
    assert "several tools at once" in tool_instructions(TOOLS)


def test_a_tool_without_parameters_gets_an_empty_object_schema() -> None:
    text = tool_instructions([ToolSpec("now")])
    assert '{"name": "now", "parameters": {"type": "object", "properties": {}}}' in text


@pytest.mark.parametrize(
    "arguments",
    [
        {"city": "Oslo", "days": 3},
        {"path": "a.py", "content": 'print("hi")\n\tx = a < b and c > d\n'},
        {"list": [1, "two", None], "nested": {"ok": True}, "empty": ""},
        {},
    ],
)
def test_earlier_calls_are_rendered_so_the_parser_reads_them_back(arguments: dict[str, object]) -> None:
    tool = ToolSpec("f")  # no schema: the arguments come back exactly as they were
    rendered = render_tool_calls([ToolCall("call_1", "f", json.dumps(arguments))])
    assert run([rendered], stage=parser(tools=(tool, WEATHER))).calls == [("f", arguments)]


def test_arguments_that_are_not_an_object_are_shown_as_written() -> None:
    rendered = render_tool_calls([ToolCall("call_1", "f", "{broken")])
    assert '<｜DSML｜invoke name="f">\n{broken\n</｜DSML｜invoke>' in rendered


def test_a_conversation_with_calls_and_results_folds_into_dsml_and_tool_results() -> None:
    call_a = ToolCall("call_a", "get_weather", '{"city": "Oslo"}')
    call_b = ToolCall("call_b", "get_weather", '{"city": "Rome", "days": 2}')
    messages = [
        ChatMessage("user", "Weather in Oslo and Rome?"),
        ChatMessage("assistant", "Checking.", tool_calls=(call_a, call_b)),
        ChatMessage("tool", "sunny", tool_call_id="call_a", name="get_weather"),
        ChatMessage("tool", "", tool_call_id="call_b"),
    ]
    prompt = fold_messages(
        messages, render_tool_calls=render_tool_calls, render_tool_result=render_tool_result
    )
    assert prompt == (
        "Weather in Oslo and Rome?"
        f"{ASSISTANT_MARKER}Checking.\n\n"
        "<｜DSML｜tool_calls>\n"
        '<｜DSML｜invoke name="get_weather">\n'
        '<｜DSML｜parameter name="city" string="true">Oslo</｜DSML｜parameter>\n'
        "</｜DSML｜invoke>\n"
        '<｜DSML｜invoke name="get_weather">\n'
        '<｜DSML｜parameter name="city" string="true">Rome</｜DSML｜parameter>\n'
        '<｜DSML｜parameter name="days" string="false">2</｜DSML｜parameter>\n'
        "</｜DSML｜invoke>\n"
        "</｜DSML｜tool_calls>"
        f'{USER_MARKER}<tool_result name="get_weather">sunny</tool_result>\n\n'
        "<tool_result>(empty)</tool_result>"
    )
    assert new_turn_prompt(
        messages, render_tool_calls=render_tool_calls, render_tool_result=render_tool_result
    ) == ('<tool_result name="get_weather">sunny</tool_result>\n\n<tool_result>(empty)</tool_result>')


def test_the_default_history_rendering_is_unchanged_without_the_hooks() -> None:
    messages = [ChatMessage("user", "go"), ChatMessage("tool", "42", tool_call_id="call_1", name="clock")]
    assert fold_messages(messages) == "go\n\nResult of tool call call_1 (clock):\n42"
