"""Scripted replies that read the prompt: the last turn, declared tools, a requested JSON schema.

Prompts are folded as the server folds them (instructions, then ``<｜User｜>`` / ``<｜Assistant｜>``
turns; tools as one JSON line each, a structured-output schema on a line of its own), sent
through the simulator's completion endpoint, and the streamed answer is read back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from deepseek_free_api.simulator import SimulatorConfig

from .client import Sim, answer_text, apply_frames, parse_sse, thinking_text

Custom = Callable[..., AbstractContextManager[httpx.Client]]

ORDER_TOOL = {
    "name": "lookup_order",
    "parameters": {
        "type": "object",
        "properties": {
            "order_id": {"type": "string"},
            "region": {"type": "string", "enum": ["eu", "us"]},
            "count": {"type": "integer", "minimum": 3},
            "note": {"type": "string"},
        },
        "required": ["order_id", "region", "count"],
    },
}


def folded(*turns: str, tools: tuple[dict[str, Any], ...] = (), instructions: str = "Be brief.") -> str:
    """A prompt as the server folds it: instructions (and tool lines), then alternating turns."""
    lines = [instructions, *(json.dumps(tool) for tool in tools)]
    markers = ("<｜User｜>", "<｜Assistant｜>")
    return "\n".join(lines) + "".join(markers[i % 2] + turn for i, turn in enumerate(turns))


def scripted(*scripts: dict[str, Any]) -> Any:
    """Config changes with ``scripts`` in the TOML layout."""
    return {"scripts": SimulatorConfig.from_dict({"scripts": list(scripts)}).scripts}


def ask(client: httpx.Client, prompt: str, **fields: Any) -> tuple[str, str]:
    """The answer and the reasoning the simulator streams for ``prompt``."""
    sim = Sim(client, "demo-token-1")
    response = sim.complete(sim.session(), prompt, **fields)
    assert response.status_code == 200, response.text
    tree = apply_frames(parse_sse(response.text))
    return answer_text(tree), thinking_text(tree)


def test_a_last_turn_script_matches_after_instructions_and_earlier_turns(custom: Custom) -> None:
    scripts = [
        {"pattern": "(?m)^ping$", "answer": "whole prompt"},
        {"pattern": "(?m)^ping$", "scope": "last_turn", "answer": "last turn"},
    ]
    with custom(**scripted(*scripts)) as client:
        # A system text before the turn keeps "^" of the whole prompt from matching "ping".
        assert ask(client, folded("ping"))[0] == "last turn"
        assert ask(client, "ping")[0] == "whole prompt"
        # An earlier "ping" does not count: only the latest user turn is searched.
        assert ask(client, folded("ping", "pong", "something else"))[0].startswith("Echo: something else")


def test_a_tool_call_script_calls_a_declared_tool_with_filled_parameters(custom: Custom) -> None:
    scripts = [
        {
            "scope": "last_turn",
            "pattern": r"order (?P<id>\d+)",
            "answer": "Looking up {id}.",
            "thinking": "Order {id} it is.",
            "tool_calls": [
                {"tool": "cancel_order", "arguments": {"order_id": "{id}"}},
                {"tool": "lookup_.*", "fill": "#{id}", "arguments": {"tags": ["{id}", 1]}},
            ],
        }
    ]
    with custom(**scripted(*scripts)) as client:
        answer, thinking = ask(
            client, folded("Where is order 42?", tools=(ORDER_TOOL,)), thinking_enabled=True
        )
        assert thinking == "Order 42 it is."
        assert answer == (
            "Looking up 42.\n\n"
            "<｜DSML｜tool_calls>\n"
            '<｜DSML｜invoke name="lookup_order">\n'
            '<｜DSML｜parameter name="tags" string="false">["42", 1]</｜DSML｜parameter>\n'
            '<｜DSML｜parameter name="order_id" string="true">#42</｜DSML｜parameter>\n'
            '<｜DSML｜parameter name="region" string="true">eu</｜DSML｜parameter>\n'
            '<｜DSML｜parameter name="count" string="false">3</｜DSML｜parameter>\n'
            "</｜DSML｜invoke>\n"
            "</｜DSML｜tool_calls>"
        )
        # No declared tool matches: the script does not apply and the echo answers.
        assert ask(client, folded("Where is order 42?"))[0].startswith("Echo: Where is order 42?")


def test_json_placeholder_is_the_smallest_value_of_the_requested_schema(custom: Custom) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 10},
            "when": {"type": "string", "format": "date"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "kind": {"anyOf": [{"type": "null"}, {"const": "x"}]},
            "size": {"type": ["integer", "null"], "exclusiveMinimum": 0, "maximum": 9},
            "optional": {"type": "string"},
        },
        "required": ["name", "when", "tags", "kind", "size"],
    }
    scripts = [{"pattern": "(?m)^## Format$", "answer": "{json}"}]
    with custom(**scripted(*scripts)) as client:
        answer, _ = ask(
            client, folded("Describe it.", instructions=f"## Format\nUse this:\n{json.dumps(schema)}")
        )
        assert json.loads(answer) == {
            "name": "exampleexa",
            "when": "2026-01-01",
            "tags": ["example", "example"],
            "kind": None,
            "size": 1,
        }
        # No schema line before the turn: any JSON object will do, and it says what it answered.
        assert json.loads(ask(client, folded("List colours.", instructions="## Format\n"))[0]) == {
            "echo": "List colours."
        }


def test_json_placeholder_is_bounded_for_a_recursive_schema(custom: Custom) -> None:
    node = {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"child": {"$ref": "#/$defs/node"}, "kids": {"type": "array"}},
                "required": ["child", "kids"],
            }
        },
        "$ref": "#/$defs/node",
    }
    scripts = [{"pattern": "(?m)^## Format$", "answer": "{json}"}]
    with custom(**scripted(*scripts)) as client:
        started = time.monotonic()
        answer, _ = ask(client, folded("Tree.", instructions=f"## Format\n{json.dumps(node)}"))
        assert time.monotonic() - started < 10
        assert len(answer) < 2000 and '"child": null' in answer  # cut at the depth limit


def test_unknown_placeholders_and_literal_json_stay_as_written(custom: Custom) -> None:
    scripts = [{"pattern": r"(?P<who>\w+) says hi", "answer": '{"who": "{who}", "x": {unknown}}'}]
    with custom(**scripted(*scripts)) as client:
        assert ask(client, "Ann says hi")[0] == '{"who": "Ann", "x": {unknown}}'


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ({"pattern": "x", "scope": "everywhere"}, "scope must be"),
        ({"pattern": "(", "answer": "x"}, "bad regex"),
        ({"pattern": "x", "tool_calls": [{"tool": "[a"}]}, "bad regex"),
    ],
)
def test_a_bad_script_is_a_config_error(script: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimulatorConfig.from_dict({"scripts": [script]})
