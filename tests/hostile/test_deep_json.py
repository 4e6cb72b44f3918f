"""JSON nested thousands of levels deep, in a body or inside a string, is an answer, never a 500.

Python's parsers and walks recurse once per level: a 10 KB string of ``[`` as a tool call's
arguments in the history, or a 2 KB Responses item, raised RecursionError (a 500 and a traceback
per request).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from deepseek_free_api.json_text import MAX_NESTING, JsonTooDeepError, nested_deeper_than, parse_json
from tests.api.conftest import API_KEY, Stack, simulator_config, start_stack

DEEP = "[" * 50_000 + "]" * 50_000
HEADERS = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from start_stack(simulator_config(), min_interval_s=0.0)


@pytest.mark.parametrize("with_tools", [True, False])
def test_deep_arguments_in_a_tool_call_history_are_shown_as_written(stack: Stack, with_tools: bool) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": DEEP}}
    body: dict[str, Any] = {
        "model": "deepseek-chat",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
            {"role": "user", "content": "go on"},
        ],
    }
    if with_tools:
        body["tools"] = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    response = httpx.post(stack.base_url + "/chat/completions", json=body, headers=HEADERS, timeout=30)
    assert response.status_code == 200, response.text
    assert DEEP[:1000] in stack.upstream_requests("/chat/completion")[-1]["prompt"]


def test_a_deep_responses_input_item_is_a_400_naming_it(stack: Stack) -> None:
    deep = b"[" * 1000 + b"]" * 1000
    body = b'{"model":"deepseek-chat","input":[{"role":"user","content":"hi","x":' + deep + b"}]}"
    headers = {**HEADERS, "content-type": "application/json"}
    response = httpx.post(stack.base_url + "/responses", content=body, headers=headers, timeout=30)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "input[0]" and str(MAX_NESTING) in error["message"]


def test_parse_json_bounds_nesting_without_recursion() -> None:
    assert parse_json("[" * MAX_NESTING + "]" * MAX_NESTING) is not None
    for text in ("[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1), DEEP):
        with pytest.raises(JsonTooDeepError):
            parse_json(text)
    value: list[Any] = []
    for _ in range(100_000):  # deeper than any recursion could walk
        value = [value]
    assert nested_deeper_than(value)
    assert not nested_deeper_than({"a": [{"b": 1}]}, limit=3)
    assert nested_deeper_than({"a": [{"b": [1]}]}, limit=3)
