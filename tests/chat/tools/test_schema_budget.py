"""Checking a value against a schema is bounded work: each (subschema, place) once, and a budget.

Whatever the schema and the value, ``conform`` returns within ``MAX_STEPS`` steps (well under a
second) with either the checked value or one error saying it could not be checked; deep schemas
that describe deep values are still checked to the bottom.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from deepseek_free_api.chat.tools.schema import MAX_NESTING, MAX_STEPS, conform

QUICK_S = 2.5  # generous for a loaded 2-core machine (1.2 s seen); the budget is ~0.1 s, base took 5 s+


def _timed(value: object, schema: dict[str, Any], **options: Any) -> tuple[object, list[str], float]:
    started = time.monotonic()
    fitted, errors = conform(value, schema, **options)
    return fitted, errors, time.monotonic() - started


def _chain(levels: int, leaf: object) -> dict[str, Any]:
    value: Any = leaf
    for _ in range(levels):
        value = {"next": value}
    return value


def test_the_self_applying_bomb_returns_at_once_and_constrains_nothing() -> None:
    bomb = {"allOf": [{"$ref": "#"}, {"$ref": "#"}, {"$ref": "#"}]}
    fitted, errors, took = _timed({"a": {"b": [1, "2"]}}, bomb)
    assert (fitted, errors) == ({"a": {"b": [1, "2"]}}, []) and took < QUICK_S


def test_work_that_multiplies_per_level_is_done_once_per_subschema_and_place() -> None:
    schema = {
        "$defs": {
            "node": {"allOf": [{"$ref": "#/$defs/step"}] * 8},
            "step": {
                "type": "object",
                "properties": {"n": {"type": "integer"}, "next": {"$ref": "#/$defs/node"}},
            },
        },
        "$ref": "#/$defs/node",
    }
    value = _chain(25, {"n": "7"})
    fitted, errors, took = _timed(value, schema)
    assert errors == [] and took < QUICK_S
    assert json.dumps(fitted) == json.dumps(_chain(25, {"n": 7}))  # converted at the bottom too


def test_the_step_budget_cannot_be_exceeded() -> None:
    many_ways = {"type": "array", "items": {"anyOf": [{"type": "integer", "enum": list(range(50))}] * 200}}
    value = [f"x{i}" for i in range(5000)]  # 5,000 items x 200 options x 50 members: far past the budget
    fitted, errors, took = _timed(value, many_ways)
    assert errors == [f"the value is too large for its schema to be checked (more than {MAX_STEPS} steps)"]
    assert fitted is value and took < QUICK_S


def test_a_time_limit_stops_the_check_too() -> None:
    wide = {"type": "array", "items": {"anyOf": [{"type": "integer"}] * 100}}
    _, errors, took = _timed([f"x{i}" for i in range(900)], wide, time_limit_s=0.0)
    assert errors == ["the value could not be checked against its schema in the time allowed"]
    assert took < QUICK_S


def test_a_deep_recursive_schema_is_checked_to_the_bottom() -> None:
    # The base code stopped following $ref 32 levels down and let anything below through unchecked.
    tree = {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"size": {"type": "integer"}, "child": {"$ref": "#/$defs/node"}},
                "required": ["size"],
            }
        },
        "$ref": "#/$defs/node",
    }
    value: Any = {"size": "1"}
    for _ in range(30):
        value = {"size": "2", "child": value}
    fitted, errors, _ = _timed(value, tree)
    assert errors == []
    deepest: Any = fitted
    while "child" in deepest:
        deepest = deepest["child"]
    assert deepest == {"size": 1}
    broken: Any = {"child": {}}
    for _ in range(30):
        broken = {"size": 2, "child": broken}
    assert conform(broken, tree)[1] == [
        "child." * 31 + "size: is required",
        "child." * 30 + "size: is required",
    ]


def test_a_value_nested_past_the_limit_is_an_error_not_a_crash() -> None:
    tree = {"type": "object", "properties": {"next": {"$ref": "#"}}}
    _, errors, took = _timed(_chain(MAX_NESTING * 2, {}), tree)
    assert len(errors) == 1 and "nested too deeply" in errors[0] and took < QUICK_S


def test_a_long_run_of_digits_is_refused_in_linear_time() -> None:
    # The base code's number pattern backtracked quadratically: 16,000 digits took 5 s.
    _, errors, took = _timed("1" * 200_000 + "x", {"type": "number"})
    assert errors[0].startswith("expected number, got '111") and took < QUICK_S


def test_more_digits_than_python_converts_are_an_error_not_an_exception() -> None:
    _, errors, _ = _timed("9" * 5000, {"type": "integer"})
    assert errors[0].startswith("expected integer, got '999")


@pytest.mark.parametrize("value", ["x" * 2_000_000, {"k": "x" * 2_000_000}, list(range(300_000))])
def test_errors_quote_only_the_start_of_a_large_value(value: object) -> None:
    _, errors, took = _timed(value, {"type": "boolean"})
    assert len(errors[0]) < 100 and errors[0].endswith("...") and took < QUICK_S
