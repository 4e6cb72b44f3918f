"""A 60-byte JSON schema must not freeze the server, wherever a request may carry one.

``{"allOf": [{"$ref": "#"}, {"$ref": "#"}, {"$ref": "#"}]}`` applies itself to the same value over
and over; on the base code checking an answer against it ran for minutes on the event loop, and
``/ping`` from anyone else went unanswered. Here the server answers within 2 s (a 400 naming the
limit, in the dialect's own error shape) while another client's ``/ping`` keeps answering.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.input_server import PingWatch, Served, served

BOMB: dict[str, Any] = {"allOf": [{"$ref": "#"}, {"$ref": "#"}, {"$ref": "#"}]}
# Acyclic and small, but eight times the work at each level of the answer for a validator that
# works each (subschema, place) out again every time it meets it.
MULTIPLYING: dict[str, Any] = {
    "$defs": {
        "node": {"allOf": [{"$ref": "#/$defs/step"}] * 8},
        "step": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}},
    },
    "$ref": "#/$defs/node",
}
DEEP_ANSWER = json.dumps(json.loads("{" + '"next": {' * 24 + "}" * 25))
DSML_CALL = (Path(__file__).resolve().parents[1] / "fixtures" / "tools" / "dsml-v4.txt").read_text()
# Accepted at parse time (small, no cycle), but 5,000 items x 150 options x 50 members to check.
COSTLY_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "tally",
        "parameters": {
            "type": "object",
            "properties": {
                "values": {
                    "type": "array",
                    "items": {"anyOf": [{"type": "integer", "enum": list(range(50))}] * 150},
                }
            },
        },
    },
}
COSTLY_CALL = (
    '<｜DSML｜tool_calls>\n<｜DSML｜invoke name="tally">\n<｜DSML｜parameter name="values" string="false">'
    + json.dumps([f"x{i}" for i in range(5000)])
    + "</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>"
)
ANSWER_WITHIN_S = 2.0
PING_WITHIN_S = 0.2


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    scripts = [
        {"pattern": "ANSWER-JSON", "answer": '{"a": {"b": [1, "2"]}}'},
        {"pattern": "ANSWER-DEEP", "answer": DEEP_ANSWER},
        {"pattern": "CALL-TOOL", "answer": DSML_CALL},  # a get_weather call, as DeepSeek writes it
        {"pattern": "CALL-TALLY", "answer": COSTLY_CALL},
    ]
    with served(scripts) as running:
        yield running


def _openai(content: str, **extra: Any) -> dict[str, Any]:
    return {"model": "deepseek-chat", "messages": [{"role": "user", "content": content}], **extra}


def _anthropic(content: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": "deepseek-chat",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": content}],
        **extra,
    }


def _response_format(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "bomb", "schema": schema}}


PLACES: dict[str, tuple[str, dict[str, Any], str]] = {
    "openai response_format": (
        "/v1/chat/completions",
        _openai("ANSWER-JSON", response_format=_response_format(BOMB)),
        "response_format.json_schema.schema",
    ),
    "openai tool parameters": (
        "/v1/chat/completions",
        _openai(
            "CALL-TOOL",
            tools=[{"type": "function", "function": {"name": "get_weather", "parameters": BOMB}}],
        ),
        "tools.0.function.parameters",
    ),
    "anthropic output_config.format": (
        "/v1/messages",
        _anthropic("ANSWER-JSON", output_config={"format": {"type": "json_schema", "schema": BOMB}}),
        "output_config.format.schema",
    ),
    "anthropic tool input_schema": (
        "/v1/messages",
        _anthropic("CALL-TOOL", tools=[{"name": "get_weather", "input_schema": BOMB}]),
        "tools.0.input_schema",
    ),
    "responses tool parameters": (
        "/v1/responses",
        {
            "model": "deepseek-chat",
            "input": "CALL-TOOL",
            "tools": [{"type": "function", "name": "get_weather", "parameters": BOMB}],
        },
        "tools.0.parameters",
    ),
}


def _timed(server: Served, path: str, body: dict[str, Any]) -> tuple[Any, float, PingWatch]:
    with PingWatch(server.url) as watch:
        started = time.monotonic()
        response = server.post(path, body, timeout=ANSWER_WITHIN_S)
        took = time.monotonic() - started
        time.sleep(0.1)  # and the server stays responsive after answering
    return response, took, watch


def _responsive(watch: PingWatch, within_s: float = PING_WITHIN_S) -> None:
    assert not watch.failures, f"/ping failed during the request: {watch.failures}"
    assert watch.slowest < within_s, f"/ping took {watch.slowest:.3f} s during the request"


@pytest.mark.parametrize("place", list(PLACES))
def test_the_schema_bomb_is_a_400_naming_the_limit_and_ping_keeps_answering(
    server: Served, place: str
) -> None:
    path, body, param = PLACES[place]
    response, took, watch = _timed(server, path, body)
    assert response.status_code == 400, response.text
    assert took < ANSWER_WITHIN_S
    error = response.json()["error"]
    assert "refers back to itself" in error["message"] and param in error["message"]
    if path == "/v1/messages":
        assert response.json()["type"] == "error" and error["type"] == "invalid_request_error"
    else:
        assert (error["param"], error["code"]) == (param, "schema_too_complex")
    _responsive(watch)


def test_a_schema_that_multiplies_the_work_per_level_still_answers_correctly_at_once(server: Served) -> None:
    # 25 levels: 8**25 applications for a validator without memory; each (subschema, place) once here.
    body = _openai("ANSWER-DEEP", response_format=_response_format(MULTIPLYING))
    response, took, watch = _timed(server, "/v1/chat/completions", body)
    assert response.status_code == 200, response.text
    assert json.loads(response.json()["choices"][0]["message"]["content"]) == json.loads(DEEP_ANSWER)
    assert took < ANSWER_WITHIN_S
    _responsive(watch)


def test_a_tool_call_that_is_costly_to_check_is_checked_off_the_event_loop_and_within_bounds(
    server: Served,
) -> None:
    body = _openai("CALL-TALLY", tools=[COSTLY_TOOL])
    response, took, watch = _timed(server, "/v1/chat/completions", body)
    assert response.status_code == 200, response.text
    message = response.json()["choices"][0]["message"]
    assert not message.get("tool_calls")  # it could not be checked, so it was not passed on as a call
    assert took < ANSWER_WITHIN_S
    # The check (its whole budget, a few tenths of a second) runs in a worker thread that shares the
    # interpreter with the event loop: /ping waits for its turn, not for the check (base: > 20 s).
    _responsive(watch, within_s=0.5)
