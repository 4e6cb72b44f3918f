"""Arguments made to fit the tool's schema: the conversions a model's text needs, and the refusals."""

from __future__ import annotations

from typing import Any

import pytest

from deepseek_free_api.chat.tools.schema import conform

Schema = dict[str, Any]


@pytest.mark.parametrize(
    ("value", "schema", "fitted"),
    [
        ("3", {"type": "integer"}, 3),
        ("-3.0", {"type": "integer"}, -3),
        (4.0, {"type": "integer"}, 4),
        ("2.5", {"type": "number"}, 2.5),
        ("7", {"type": "number"}, 7),
        ("TRUE", {"type": "boolean"}, True),
        ("null", {"type": ["string", "null"]}, "null"),  # a string stays a string when it may be one
        ("null", {"type": ["integer", "null"]}, None),
        ("", {"type": "integer", "nullable": True}, None),
        (3, {"type": "string"}, "3"),
        (True, {"type": "string"}, "true"),
        ({"a": 1}, {"type": "string"}, '{"a": 1}'),
        ('["a", "b"]', {"type": "array", "items": {"type": "string"}}, ["a", "b"]),
        (["1", "2"], {"type": "array", "items": {"type": "integer"}}, [1, 2]),
        ('{"n": "5"}', {"type": "object", "properties": {"n": {"type": "integer"}}}, {"n": 5}),
        ("5", {"anyOf": [{"type": "integer"}, {"type": "string"}]}, 5),
        ("five", {"anyOf": [{"type": "integer"}, {"type": "string"}]}, "five"),
        ("2", {"$ref": "#/$defs/n", "$defs": {"n": {"type": "integer"}}}, 2),
        ("celsius", {"type": "string", "enum": ["celsius", "fahrenheit"]}, "celsius"),
        ("anything", {}, "anything"),
    ],
)
def test_values_are_converted_to_what_the_schema_asks(value: Any, schema: Schema, fitted: Any) -> None:
    assert conform(value, schema) == (fitted, [])


@pytest.mark.parametrize(
    ("value", "schema", "error"),
    [
        ("three", {"type": "integer"}, "expected integer, got 'three'"),
        ("2.5", {"type": "integer"}, "expected integer, got '2.5'"),
        ("yes", {"type": "boolean"}, "expected boolean, got 'yes'"),
        ("[1,", {"type": "array"}, "expected array, got '[1,'"),
        ("kelvin", {"enum": ["celsius", "fahrenheit"]}, 'must be one of ["celsius", "fahrenheit"]'),
        ("b", {"const": "a"}, 'must be "a"'),
    ],
)
def test_values_that_cannot_fit_are_refused_with_the_reason(value: Any, schema: Schema, error: str) -> None:
    assert conform(value, schema)[1] == [error]


def test_object_rules_name_the_parameter_at_fault() -> None:
    schema = {
        "type": "object",
        "properties": {
            "path": {"type": "string"},
            "options": {
                "type": "object",
                "properties": {"depth": {"type": "integer"}},
                "required": ["depth"],
            },
        },
        "required": ["path"],
        "additionalProperties": False,
    }
    fitted, errors = conform({"options": {"depth": "x"}, "mode": "fast"}, schema)
    assert errors == [
        "options.depth: expected integer, got 'x'",
        "mode: is not a known parameter",
        "path: is required",
    ]
    assert fitted == {"options": {"depth": "x"}, "mode": "fast"}


def test_a_recursive_reference_ends() -> None:
    schema = {"$ref": "#"}
    assert conform({"a": 1}, schema) == ({"a": 1}, [])
