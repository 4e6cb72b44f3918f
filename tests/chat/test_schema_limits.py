"""The limits a request's JSON schemas must keep: refused at parse time, with the limit named.

Recursion that descends into the value (trees, linked lists) is what schemas are for and passes;
a subschema that applies itself to the same value, or multiplies past the limits, is a 400.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from deepseek_free_api.chat.request import ResponseFormat, ToolSpec
from deepseek_free_api.chat.schema_limits import MAX_CHAIN, MAX_DEPTH, MAX_EXPANSION, MAX_NODES, check_schema
from deepseek_free_api.errors import RequestError

Schema = dict[str, Any]


def _refusal(schema: Schema) -> str:
    with pytest.raises(RequestError) as caught:
        check_schema(schema, "tools.0.function.parameters")
    error = caught.value
    assert (error.param, error.code) == ("tools.0.function.parameters", "schema_too_complex")
    assert "'tools.0.function.parameters'" in error.message
    return error.message


def _defs_chain(length: int, *, members: int = 1) -> Schema:
    defs: Schema = {f"d{i}": {"allOf": [{"$ref": f"#/$defs/d{i + 1}"}] * members} for i in range(length)}
    defs[f"d{length}"] = {"type": "string"}
    return {"$defs": defs, "$ref": "#/$defs/d0"}


A_AND_B = {"a": {"oneOf": [{"$ref": "#/$defs/b"}]}, "b": {"allOf": [{"$ref": "#/$defs/a"}]}}
SELF_IN_PROPERTY = {"x": {"$defs": {"y": {"$ref": "#/properties/x"}}, "$ref": "#/properties/x"}}


@pytest.mark.parametrize(
    "schema",
    [
        {"allOf": [{"$ref": "#"}, {"$ref": "#"}, {"$ref": "#"}]},
        {"$ref": "#"},
        {"anyOf": [{"type": "string"}, {"$ref": "#"}]},
        {"$defs": A_AND_B, "$ref": "#/$defs/a"},
        {"type": "object", "properties": SELF_IN_PROPERTY},
    ],
)
def test_a_schema_that_applies_itself_to_the_same_value_is_refused(schema: Schema) -> None:
    assert "refers back to itself" in _refusal(schema)


@pytest.mark.parametrize(
    ("schema", "limit"),
    [
        ({"enum": list(range(MAX_NODES))}, f"more than {MAX_NODES} values"),
        (_defs_chain(MAX_CHAIN // 2), f"more than {MAX_CHAIN} deep"),  # each link is a def and a $ref
        (_defs_chain(4, members=12), f"more than {MAX_EXPANSION} subschema applications"),  # 12**4
    ],
)
def test_size_chains_and_fan_out_past_the_limits_are_refused_naming_the_limit(
    schema: Schema, limit: str
) -> None:
    assert limit in _refusal(schema)


def test_nesting_past_the_limit_is_refused_without_recursion() -> None:
    deep: Schema = {"type": "string"}
    for _ in range(50_000):  # far deeper than Python's recursion limit: the walk must not recurse
        deep = {"items": deep}
    assert f"more than {MAX_DEPTH} levels" in _refusal(deep)


def test_recursion_through_the_value_and_ordinary_large_schemas_pass() -> None:
    tree: Schema = {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                "additionalProperties": {"$ref": "#/$defs/node"},
            }
        },
        "$ref": "#/$defs/node",
    }
    check_schema(tree, "p")
    check_schema(_defs_chain(MAX_CHAIN // 2 - 1), "p")
    check_schema(_defs_chain(10, members=2), "p")  # about 2**12 applications: under the limit
    wide = {
        "type": "object",
        "properties": {
            f"field{i}": {"anyOf": [{"$ref": "#/$defs/a"}, {"type": "null"}]} for i in range(1500)
        },
        "$defs": {"a": {"type": "object", "properties": {"x": {"type": "integer", "enum": list(range(20))}}}},
    }
    started = time.monotonic()
    check_schema(wide, "p")
    assert time.monotonic() - started < 0.5


def test_tools_and_response_formats_are_checked_where_they_are_built() -> None:
    bomb = {"allOf": [{"$ref": "#"}] * 3}
    with pytest.raises(RequestError) as caught:
        ToolSpec("t", parameters=bomb, param="tools.2.input_schema")
    assert caught.value.param == "tools.2.input_schema"
    with pytest.raises(RequestError) as caught:
        ResponseFormat("json_schema", bomb, param="output_config.format.schema")
    assert caught.value.param == "output_config.format.schema"
