"""Prompt folding: golden examples of what goes upstream for each conversation shape."""

from __future__ import annotations

import json

import pytest

from deepseek_free_api.chat.prompt import fold_messages, neutralise_images, new_turn_prompt
from deepseek_free_api.chat.request import ChatMessage, ToolCall
from deepseek_free_api.errors import RequestError

U = "<｜User｜>"
A = "<｜Assistant｜>"


def system(text: str) -> ChatMessage:
    return ChatMessage(role="system", text=text)


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", text=text)


def assistant(text: str, **kwargs: object) -> ChatMessage:
    return ChatMessage(role="assistant", text=text, **kwargs)  # type: ignore[arg-type]


def test_markers_are_the_full_width_special_tokens() -> None:
    assert U == "<\uff5cUser\uff5c>"
    assert A == "<\uff5cAssistant\uff5c>"


def test_a_single_user_message_goes_up_as_exactly_its_text() -> None:
    assert fold_messages([user("  Hello,\n  world  ")]) == "  Hello,\n  world  "


def test_system_user_assistant_user() -> None:
    messages = [system("Be terse"), user("Hi"), assistant("Hello"), user("2+2?")]
    assert fold_messages(messages) == f"Be terse{U}Hi{A}Hello{U}2+2?"


def test_consecutive_messages_of_one_side_merge_with_a_blank_line() -> None:
    assert fold_messages([user("a"), user("b")]) == "a\n\nb"
    messages = [user("q"), assistant("x"), assistant("y"), user("r")]
    assert fold_messages(messages) == f"q{A}x\n\ny{U}r"


def test_developer_role_counts_as_leading_instructions() -> None:
    messages = [ChatMessage(role="developer", text="Use French"), system("Be terse"), user("Hi")]
    assert fold_messages(messages) == f"Use French\n\nBe terse{U}Hi"


def test_a_later_system_message_joins_the_next_user_turn_as_labelled_text() -> None:
    messages = [user("Hi"), assistant("Hello"), system("Now answer in French"), user("Bye")]
    assert fold_messages(messages) == f"Hi{A}Hello{U}System: Now answer in French\n\nBye"


def test_reasoning_in_history_is_accepted_and_not_sent() -> None:
    messages = [user("2+2?"), assistant("4", reasoning="two plus two is four"), user("and 3+3?")]
    assert fold_messages(messages) == f"2+2?{A}4{U}and 3+3?"


def test_assistant_tool_calls_and_tool_results_are_visible_text() -> None:
    call = ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}')
    messages = [
        user("Weather in Paris?"),
        assistant("", tool_calls=(call,)),
        ChatMessage(role="tool", text="sunny, 21°C", tool_call_id="call_1", name="get_weather"),
    ]
    calls = json.dumps(
        {"tool_calls": [{"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}]}
    )
    assert fold_messages(messages) == (
        f"Weather in Paris?{A}{calls}{U}Result of tool call call_1 (get_weather):\nsunny, 21°C"
    )


def test_assistant_text_comes_before_its_tool_calls_and_broken_arguments_stay_text() -> None:
    call = ToolCall(id="c", name="f", arguments="{not json")
    folded = fold_messages([user("go"), assistant("Let me check.", tool_calls=(call,))])
    assert (
        folded
        == f'go{A}Let me check.\n\n{{"tool_calls": [{{"id": "c", "name": "f", "arguments": "{{not json"}}]}}'
    )


def test_a_custom_tool_call_renderer_is_used() -> None:
    call = ToolCall(id="c", name="f", arguments="{}")
    folded = fold_messages(
        [user("go"), assistant("", tool_calls=(call,))], render_tool_calls=lambda calls: "<CALL f>"
    )
    assert folded == f"go{A}<CALL f>"


def test_tool_results_without_ids_and_empty_results() -> None:
    messages = [user("go"), ChatMessage(role="tool", text="", name="clock")]
    assert fold_messages(messages) == "go\n\nResult of tool clock:\n(empty)"


def test_a_conversation_starting_with_the_assistant_keeps_its_marker() -> None:
    assert fold_messages([assistant("Welcome!"), user("Hi")]) == f"{A}Welcome!{U}Hi"


def test_empty_messages_are_skipped_and_nothing_at_all_is_a_bad_request() -> None:
    assert fold_messages([system(""), user("Hi"), user("  ")]) == "Hi"
    with pytest.raises(RequestError) as info:
        fold_messages([user(""), assistant("")])
    assert info.value.param == "messages"


def test_markdown_images_are_neutralised_everywhere() -> None:
    messages = [
        user("Look ![a cat](https://example.com/cat.png) and ![](data:image/png;base64,AAAA)"),
        assistant('Nice ![dog](https://example.com/dog.png "title")'),
        user("ok"),
    ]
    assert fold_messages(messages) == (
        f"Look [a cat](https://example.com/cat.png) and [image]{A}Nice [dog](https://example.com/dog.png){U}ok"
    )
    assert neutralise_images("![x](data:image/png;base64,AA)") == "[image: x]"
    assert neutralise_images("plain [link](https://a.b) stays") == "plain [link](https://a.b) stays"


def test_new_turn_prompt_sends_only_what_follows_the_last_assistant_message() -> None:
    messages = [system("Be terse"), user("Hi"), assistant("Hello"), user("2+2?")]
    assert new_turn_prompt(messages) == "2+2?"
    call = ToolCall(id="call_1", name="f", arguments="{}")
    with_tool = [
        user("go"),
        assistant("", tool_calls=(call,)),
        ChatMessage(role="tool", text="42", tool_call_id="call_1"),
    ]
    assert new_turn_prompt(with_tool) == "Result of tool call call_1:\n42"
    assert new_turn_prompt([user("first")]) == "first"


def test_new_turn_prompt_needs_something_new() -> None:
    with pytest.raises(RequestError) as info:
        new_turn_prompt([user("Hi"), assistant("Hello")])
    assert info.value.param == "messages"
