"""Schemathesis against the server's own OpenAPI document: the real server over a socket, the
simulator behind it, a bounded number of generated requests per operation (valid and invalid).

Every answer must be a documented status, content type and header set, match its documented
schema, never be a 5xx, and every error must be the OpenAI envelope
``{"error": {message, type, param, code}}`` (Anthropic's on /v1/messages). Requests without the
documented credentials must be 401s, invalid requests must be refused, a wrong method's 405 must
name every method of the path. Not checked: that every schema-valid request is accepted
(``positive_data_acceptance``): the documents describe the shape of a request, while some valid
shapes are refused on purpose with a 400 naming the field (``mcp_servers``, Responses'
``background``, a ``tool_choice`` without its tool's name).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from tests.api.conftest import API_KEY, Stack, simulator_config, start_stack

# Examples per operation and generation mode; about 15 s for the whole run on two shared cores.
# SCHEMATHESIS_EXAMPLES=400 runs a deeper search with a fresh random seed (about a minute).
DEEPER = os.environ.get("SCHEMATHESIS_EXAMPLES")
MAX_EXAMPLES = int(DEEPER or 50)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # A generous queue: generated chat requests may arrive faster than two accounts serve them.
    yield from start_stack(simulator_config(), min_interval_s=0.0, max_waiters=64, wait_timeout_s=30)


@pytest.fixture(scope="module")
def api_schema(stack: Stack) -> Any:
    return schemathesis.openapi.from_url(stack.server.url + "/openapi.json")


def error_envelope(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """Every 4xx/5xx with a body is the OpenAI envelope (Anthropic's own on /v1/messages)."""
    if response.status_code < 400 or case.method.upper() == "HEAD":
        return None
    body = response.json()
    if case.path.startswith("/v1/messages"):
        assert body["type"] == "error" and set(body["error"]) == {"type", "message"}, body
        return True
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and isinstance(error["code"], str)
    assert error["param"] is None or isinstance(error["param"], str)
    return True


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests(api_schema: Any, mode: GenerationMode, subtests: pytest.Subtests) -> None:
    # schemathesis' own pytest integration (from_fixture) does not run under pytest 9 (it sets a
    # node attribute pytest 9 removed), so each operation gets a plain Hypothesis test here.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 7
    for operation in operations:
        with subtests.test(msg=operation.label):
            try:
                _fuzz(operation, mode)
            except Unsatisfiable:
                # No invalid request exists for an operation without a body (a path segment is
                # any string): that is the schema's meaning, not a skipped check.
                assert mode is GenerationMode.NEGATIVE and not list(operation.body)


def _with_real_models(case: schemathesis.Case, model: str | None) -> schemathesis.Case:
    """Give part of the generated chat bodies a real model name, so they reach the simulator."""
    if model is not None and isinstance(case.body, dict) and isinstance(case.body.get("model"), str):
        case.body["model"] = model
    response_format = case.body.get("response_format") if isinstance(case.body, dict) else None
    if isinstance(response_format, dict):
        # The simulator's echo is never JSON, so a JSON format ends in the documented 502
        # invalid_json_output (tests/api/test_response_format.py), not in a fault to find here.
        response_format["type"] = "text"
    return case


def _fuzz(operation: Any, mode: GenerationMode) -> None:
    cases = operation.as_strategy(mode)
    if mode is GenerationMode.POSITIVE and operation.path == "/v1/chat/completions":
        names = st.sampled_from([None, "deepseek-chat", "deepseek-v4-flash-search", "deepseek-r1-fold"])
        cases = st.builds(_with_real_models, cases, names)

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=not DEEPER,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(
            headers={"Authorization": f"Bearer {API_KEY}"},
            checks=[
                not_a_server_error,
                status_code_conformance,
                content_type_conformance,
                response_schema_conformance,
                response_headers_conformance,
                negative_data_rejection,
                missing_required_header,
                unsupported_method,
                allow_header_conformance,
                error_envelope,
            ],
            timeout=30,
        )

    check()
