"""``response_format`` through the server, with the simulator scripting the model's answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import API_KEY, Stack, simulator_config, start_stack

PERSON_FORMAT: Any = {
    "type": "json_schema",
    "json_schema": {
        "name": "person",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "age"],
            "additionalProperties": False,
        },
    },
}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    scripts = [
        {"pattern": "ADA-VALID", "answer": '```json\n{"name": "Ada", "age": 36}\n```'},
        {"pattern": "OBJECT-PLEASE", "answer": '{"ok": true}'},
        # First answers that miss the schema, and what the model says when asked to repair them.
        {"pattern": "ADA-REPAIR", "answer": '{"name": "Ada", "age": "thirty-six"}'},
        {"pattern": "got 'thirty-six'", "answer": '{"name": "Ada", "age": 36}'},
        {"pattern": "ADA-BROKEN", "answer": '{"name": "Ada", "age": "forty"}'},
        {"pattern": "got 'forty'", "answer": "Sorry, I cannot say how old she is."},
    ]
    yield from start_stack(simulator_config(scripts=scripts), min_interval_s=0.0)


def body(content: str, response_format: Any = PERSON_FORMAT, **extra: Any) -> dict[str, Any]:
    return {
        "model": "deepseek-chat",
        "messages": [{"role": "user", "content": content}],
        "response_format": response_format,
        **extra,
    }


def post(stack: Stack, payload: dict[str, Any]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    return httpx.post(stack.base_url + "/chat/completions", json=payload, headers=headers, timeout=30)


def completions(stack: Stack) -> list[dict[str, Any]]:
    return stack.upstream_requests("/chat/completion")


def test_json_schema_without_its_schema_object_is_a_clear_400(stack: Stack) -> None:
    before = len(completions(stack))
    response = post(stack, body("ADA-VALID", {"type": "json_schema"}))
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("missing_required_parameter", "response_format.json_schema")
    assert len(completions(stack)) == before
