"""The tool-call stage: what a client sees for each markup DeepSeek writes, and for the ones it gets wrong."""

from __future__ import annotations

import pytest

from deepseek_free_api.chat.events import Citation, ReasoningDelta, TextDelta, ToolCall
from deepseek_free_api.chat.pipeline import Pipeline, Stop, StopSequences
from deepseek_free_api.chat.request import NamedToolChoice
from deepseek_free_api.chat.tools import ToolCallParser
from tests.chat.tools.helpers import TOOLS, expected, fixture, fixture_names, parser, run

TOOL_USE = Stop("tool_use")


def dsml(name: str, **params: str) -> str:
    body = "".join(
        f'<｜DSML｜parameter name="{k}" string="true">{v}</｜DSML｜parameter>\n' for k, v in params.items()
    )
    invoke = f'<｜DSML｜invoke name="{name}">\n{body}</｜DSML｜invoke>'
    return f"<｜DSML｜tool_calls>\n{invoke}\n</｜DSML｜tool_calls>"


@pytest.mark.parametrize("name", fixture_names())
def test_each_markup_family_gives_its_calls_and_only_the_text_around_them(name: str) -> None:
    outcome = run([fixture(name)])
    want = expected(name)
    assert outcome.text == want["text"]
    assert outcome.calls == want["calls"]
    assert outcome.stop == (TOOL_USE if want["calls"] else None)


def test_calls_carry_distinct_ids_and_json_arguments() -> None:
    outcome = run([fixture("dsml-v32-ascii-parallel.txt")])
    calls = [e for e in outcome.events if isinstance(e, ToolCall)]
    assert [c.id for c in calls] == ["call_0", "call_1"]
    assert calls[1].arguments == '{"city": "Rome", "days": 2}'


def test_default_ids_are_unique_openai_style_ids() -> None:
    stage = ToolCallParser(TOOLS)
    events = stage.feed([TextDelta(fixture("dsml-v32-ascii-parallel.txt"))]) + stage.flush()
    ids = [e.id for e in events if isinstance(e, ToolCall)]
    assert len(set(ids)) == 2 and all(i.startswith("call_") and len(i) == 29 for i in ids)


# -- code --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fence", ["```", "~~~", "````"])
def test_a_call_inside_a_code_fence_is_an_example(fence: str) -> None:
    answer = f"For example:\n{fence}\n{dsml('get_weather', city='Oslo')}\n{fence}\nThat is all."
    outcome = run([answer])
    assert (outcome.text, outcome.calls, outcome.stop) == (answer, [], None)


def test_a_longer_fence_is_not_closed_by_a_shorter_one() -> None:
    answer = f"````md\n```\n{dsml('get_weather', city='Oslo')}\n```\n````\n"
    assert run([answer]).calls == []


def test_after_a_fence_closes_calls_count_again() -> None:
    answer = f"```\nexample\n```\n{dsml('get_weather', city='Paris')}"
    outcome = run([answer])
    assert outcome.calls == [("get_weather", {"city": "Paris"})]
    assert outcome.text == "```\nexample\n```\n"


def test_a_call_in_inline_code_is_a_mention() -> None:
    one_line = dsml("get_weather", city="Oslo").replace("\n", "")
    answer = f"Write ``{one_line}`` to call it."
    assert run([answer]).calls == []


# -- names and arguments ------------------------------------------------------------------------


def test_an_undeclared_tool_is_not_called_and_its_block_stays_visible() -> None:
    block = dsml("delete_everything", path="/")
    outcome = run(["Sure. ", block])
    assert (outcome.text, outcome.calls, outcome.stop) == ("Sure. " + block, [], None)
    assert "not one of the declared tools" in outcome.stage.rejected[0].reason


def test_near_miss_names_resolve_to_the_declared_tool() -> None:
    outcome = run([dsml("functions.get_weather", city="Oslo") + dsml("Get_Weather", city="Rome")])
    assert outcome.calls == [("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Rome"})]


def test_a_named_tool_choice_allows_only_that_tool() -> None:
    stage = parser(choice=NamedToolChoice("write_file"))
    outcome = run([dsml("get_weather", city="Oslo")], stage=stage)
    assert outcome.calls == [] and outcome.stop is None


def test_arguments_are_coerced_to_the_schema() -> None:
    answer = (
        '<｜DSML｜tool_calls><｜DSML｜invoke name="get_weather">'
        '<｜DSML｜parameter name="city" string="false">"Oslo"</｜DSML｜parameter>'
        '<｜DSML｜parameter name="days">  7 </｜DSML｜parameter>'
        "</｜DSML｜invoke></｜DSML｜tool_calls>"
    )
    assert run([answer]).calls == [("get_weather", {"city": "Oslo", "days": 7})]


def test_a_text_parameter_keeps_its_exact_text() -> None:
    content = '  line "one"\n\tline <two> & {"three": 3}\n'
    outcome = run([dsml("write_file", path="a.txt", content=content)])
    assert outcome.calls == [("write_file", {"path": "a.txt", "content": content})]


def test_cdata_values_are_unwrapped() -> None:
    outcome = run([dsml("write_file", path="<![CDATA[a.txt]]>", content="<![CDATA[<b>x</b>]]>")])
    assert outcome.calls == [("write_file", {"path": "a.txt", "content": "<b>x</b>"})]


def test_arguments_that_break_the_schema_are_rejected_with_the_reason() -> None:
    block = dsml("get_weather", city="Oslo", days="soon")
    outcome = run([block])
    assert (outcome.text, outcome.calls) == (block, [])
    # The type, not the value: reasons are logged and the arguments never are.
    assert outcome.stage.rejected[0].reason == "days: expected integer, got string"


def test_a_missing_required_argument_is_rejected() -> None:
    outcome = run([dsml("write_file", path="a.txt")])
    assert outcome.calls == [] and "content: is required" in outcome.stage.rejected[0].reason


def test_only_the_valid_calls_of_a_block_are_made() -> None:
    block = dsml("get_weather", city="Oslo").replace(
        "</｜DSML｜tool_calls>", '<｜DSML｜invoke name="nope"></｜DSML｜invoke></｜DSML｜tool_calls>'
    )
    outcome = run([block])
    assert outcome.calls == [("get_weather", {"city": "Oslo"})]
    assert [r.name for r in outcome.stage.rejected] == ["nope"]


def test_in_a_repairable_answer_an_unusable_block_ends_it_unsent() -> None:
    block = dsml("write_file", path="a.txt")
    outcome = run(["Sure. ", block, " and more"], stage=ToolCallParser(TOOLS, malformed="repair"))
    assert (outcome.text, outcome.calls, outcome.stop) == ("Sure. ", [], TOOL_USE)
    assert outcome.stage.unusable is not None and outcome.stage.unusable.raw == block
    assert [r.reason for r in outcome.stage.unusable.rejected] == ["content: is required"]


def test_in_a_repairable_answer_a_mentioned_wrapper_stays_text() -> None:
    mention = "<｜DSML｜tool_calls></｜DSML｜tool_calls>"
    outcome = run([f"The wrapper is {mention} here."], stage=ToolCallParser(TOOLS, malformed="repair"))
    assert (outcome.text, outcome.stop, outcome.stage.unusable) == (
        f"The wrapper is {mention} here.",
        None,
        None,
    )


def test_after_the_repair_a_call_naming_a_tool_is_sent_and_one_naming_none_is_text() -> None:
    send = ToolCallParser(TOOLS, malformed="send")
    assert run([dsml("write_file", path="a.txt")], stage=send).calls == [("write_file", {"path": "a.txt"})]
    nameless = dsml("write_file", x="1").replace(' name="write_file"', "")
    outcome = run([nameless], stage=ToolCallParser(TOOLS, malformed="send"))
    assert (outcome.text, outcome.calls) == (nameless, [])


def test_an_invoke_with_a_json_body_instead_of_parameters_is_read() -> None:
    answer = (
        '<|DSML|tool_calls><|DSML|invoke name="get_weather">{"city": "Oslo"}'
        "</|DSML|invoke></|DSML|tool_calls>"
    )
    assert run([answer]).calls == [("get_weather", {"city": "Oslo"})]


@pytest.mark.parametrize(
    "arguments",
    ['{"city": "Paris"', "{'city': 'Paris'}", '["Paris"]', "city=Paris"],
)
def test_malformed_v3_json_is_not_a_call(arguments: str) -> None:
    answer = (
        f"<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{arguments}"
        "<｜tool▁call▁end｜><｜tool▁calls▁end｜>"
    )
    outcome = run([answer])
    assert (outcome.text, outcome.calls, outcome.stop) == (answer, [], None)
    assert "JSON" in outcome.stage.rejected[0].reason


def test_ascii_v3_markers_with_underscores_are_read() -> None:
    answer = (
        '<|tool_calls_begin|><|tool_call_begin|>get_weather<|tool_sep|>{"city": "Lima"}'
        "<|tool_call_end|><|tool_calls_end|>"
    )
    assert run([answer]).calls == [("get_weather", {"city": "Lima"})]


# -- where blocks end ---------------------------------------------------------------------------


def test_text_after_the_calls_ends_the_answer_unseen() -> None:
    outcome = run(["Checking.\n", dsml("get_weather", city="Oslo"), "\n\n", "I have asked for the weather."])
    assert outcome.text == "Checking.\n"
    assert outcome.stop == TOOL_USE


def test_the_stop_comes_with_the_first_text_after_the_block_not_before() -> None:
    stage = parser()
    events = stage.feed([TextDelta(dsml("get_weather", city="Oslo"))])
    assert [type(e) for e in events] == [ToolCall]
    assert stage.stop is None  # another block may follow
    assert stage.feed([TextDelta("\n<tool_result>")]) == []
    assert stage.stop == TOOL_USE
    assert stage.feed([TextDelta("more")]) == [] and stage.flush() == []


def test_a_call_at_the_very_end_stops_at_flush() -> None:
    stage = parser()
    stage.feed([TextDelta(dsml("get_weather", city="Oslo"))])
    assert stage.flush() == [] and stage.stop == TOOL_USE


def test_a_wrapper_only_mentioned_in_prose_is_text() -> None:
    answer = "Calls are wrapped in <tool_calls> or <｜DSML｜function_calls>; <invoke> names the tool."
    outcome = run([answer])
    assert (outcome.text, outcome.calls) == (answer, [])


def test_an_empty_block_is_text() -> None:
    answer = "<｜DSML｜tool_calls>\n</｜DSML｜tool_calls>"
    assert run([answer]).text == answer


def test_a_block_cut_off_before_any_call_is_complete_stays_visible() -> None:
    cut = (
        '<｜DSML｜tool_calls>\n<｜DSML｜invoke name="get_weather">\n'
        '<｜DSML｜parameter name="city" string="true">Os'
    )
    outcome = run(["One moment. ", cut])
    assert (outcome.text, outcome.calls, outcome.stop) == ("One moment. " + cut, [], None)
    assert outcome.stage.rejected[-1].reason == "the answer ended inside a tool call"


def test_complete_calls_before_a_cut_are_made() -> None:
    first = dsml("get_weather", city="Oslo").removesuffix("\n</｜DSML｜tool_calls>")
    cut = first + '\n<｜DSML｜invoke name="get_weather">\n<｜DSML｜parameter name="ci'
    outcome = run([cut])
    assert outcome.calls == [("get_weather", {"city": "Oslo"})]
    assert outcome.text == "" and outcome.stop == TOOL_USE


def test_a_forgotten_parameter_end_is_repaired_by_the_next_dsml_tag() -> None:
    answer = (
        '<｜DSML｜invoke name="get_weather"><｜DSML｜parameter name="city" string="true">Oslo'
        '<｜DSML｜parameter name="days" string="false">2</｜DSML｜invoke>'
    )
    assert run([answer]).calls == [("get_weather", {"city": "Oslo", "days": 2})]


def test_parallel_calls_off_keeps_the_first_and_stops_at_once() -> None:
    stage = parser(parallel=False)
    events = stage.feed([TextDelta(fixture("dsml-v32-ascii-parallel.txt"))])
    assert [e.name for e in events if isinstance(e, ToolCall)] == ["get_weather"]
    assert stage.stop == TOOL_USE
    assert stage.rejected[0].reason == "parallel tool calls are off"


# -- reasoning ----------------------------------------------------------------------------------


def test_a_call_only_in_the_reasoning_with_an_empty_answer_is_a_call() -> None:
    thought = "The user wants the weather, so:\n" + dsml("get_weather", city="Oslo")
    outcome = run(["\n"], reasoning=(thought[:40], thought[40:]))
    assert outcome.calls == [("get_weather", {"city": "Oslo"})]
    assert outcome.stop == TOOL_USE
    assert outcome.reasoning == thought  # reasoning passes unchanged


def test_the_last_usable_block_of_the_reasoning_wins() -> None:
    thought = dsml("get_weather", city="Oslo") + "\nNo, Rome.\n" + dsml("get_weather", city="Rome")
    assert run([], reasoning=(thought,)).calls == [("get_weather", {"city": "Rome"})]


def test_calls_drafted_in_the_reasoning_are_not_repeated_when_the_answer_calls() -> None:
    outcome = run([dsml("get_weather", city="Rome")], reasoning=(dsml("get_weather", city="Oslo"),))
    assert outcome.calls == [("get_weather", {"city": "Rome"})]


def test_calls_in_the_reasoning_do_not_count_when_the_answer_has_text() -> None:
    outcome = run(["It is sunny."], reasoning=(dsml("get_weather", city="Oslo"),))
    assert (outcome.text, outcome.calls, outcome.stop) == ("It is sunny.", [], None)


def test_fenced_examples_in_the_reasoning_are_not_calls() -> None:
    thought = "Format:\n```\n" + dsml("get_weather", city="Oslo") + "\n```\n"
    assert run([], reasoning=(thought,)).calls == []


# -- holding back -------------------------------------------------------------------------------


def test_text_that_cannot_start_a_block_is_not_held() -> None:
    stage = parser()
    assert stage.feed([TextDelta("2 < 3, <b>x</b> <-")]) == [TextDelta("2 < 3, <b>x</b> <-")]


def test_only_a_possible_start_is_held_and_released_when_it_is_not_one() -> None:
    stage = parser()
    assert stage.feed([TextDelta("Hi <｜DS")]) == [TextDelta("Hi ")]
    assert stage.feed([TextDelta("ML｜tool_caps>")]) == [TextDelta("<｜DSML｜tool_caps>")]
    assert stage.feed([TextDelta(" <tool_")]) == [TextDelta(" ")]
    assert stage.flush() == [TextDelta("<tool_")]


def test_other_events_pass_while_text_is_held() -> None:
    stage = parser()
    citation = Citation("https://example.com", "Example", 1)
    assert stage.feed([TextDelta("See <"), citation, ReasoningDelta("hm")]) == [
        TextDelta("See "),
        citation,
        ReasoningDelta("hm"),
    ]


def test_first_in_the_pipeline_a_stop_sequence_inside_arguments_does_not_cut_the_call() -> None:
    pipeline = Pipeline([parser(), StopSequences(["Oslo"])])
    events = pipeline.feed([TextDelta(dsml("get_weather", city="Oslo"))]) + pipeline.flush()
    assert [(e.name, e.arguments) for e in events if isinstance(e, ToolCall)] == [
        ("get_weather", '{"city": "Oslo"}')
    ]
    assert pipeline.stop == TOOL_USE
