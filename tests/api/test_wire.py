"""The wire edge as clients meet it: nulls, specific error codes, short echoes, refused options,
``models.retrieve``, ``HEAD /ping`` and clients that hang up while sending."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from deepseek_free_api.api import errors as errors_module
from deepseek_free_api.api.errors import error_code, status_of
from deepseek_free_api.errors import (
    AuthenticationError,
    CapacityError,
    ConversationNotFoundError,
    InputTooLongError,
    ModelNotFoundError,
    RequestError,
    ServiceError,
    UpstreamError,
    UpstreamServerError,
    UpstreamTimeoutError,
)
from tests.api.conftest import API_KEY, Stack, sdk_client, simulator_config, start_stack


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from start_stack(simulator_config(), min_interval_s=0.0)


@pytest.fixture(autouse=True)
def reset(stack: Stack) -> None:
    stack.sim("POST", "/_sim/reset")


def post(stack: Stack, body: Any) -> httpx.Response:
    return httpx.post(
        stack.base_url + "/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    )


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def hi(**fields: Any) -> dict[str, Any]:
    return {"model": "deepseek-chat", "messages": [{"role": "user", "content": "hi"}], **fields}


# -- nulls are "unset", as the SDKs send them ---------------------------------------------------


def test_null_fields_count_as_unset(stack: Stack) -> None:
    unset = dict.fromkeys(
        ["stream", "stream_options", "max_tokens", "max_completion_tokens", "stop", "n", "tools"]
        + ["tool_choice", "parallel_tool_calls", "conversation_id", "reasoning_format", "logprobs"]
        + ["top_logprobs", "response_format", "temperature"]
    )
    message = {"role": "user", "content": "hi", "name": None, "tool_calls": None, "tool_call_id": None}
    response = post(stack, {"model": "deepseek-chat", "messages": [message], **unset})
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"].startswith("Echo: hi")


def test_null_required_field_is_missing(stack: Stack) -> None:
    response = post(stack, hi(model=None))
    assert response.status_code == 400
    error = error_of(response)
    assert (error["param"], error["code"]) == ("model", "missing_required_parameter")


# -- specific codes, one table ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (RequestError("bad"), 400, "invalid_value"),
        (ModelNotFoundError("x"), 404, "model_not_found"),
        (ConversationNotFoundError("gone"), 404, "conversation_not_found"),
        (InputTooLongError("long"), 413, "context_length_exceeded"),
        (AuthenticationError("who"), 401, "invalid_api_key"),
        (CapacityError("busy"), 429, "rate_limit_exceeded"),
        (UpstreamServerError("5xx"), 502, "upstream_server_error"),
        (UpstreamTimeoutError("slow"), 504, "upstream_timeout"),
        (UpstreamError("other"), 502, "upstream_error"),
        (ServiceError("ours"), 500, "server_error"),
    ],
)
def test_error_codes_are_specific(error: ServiceError, status: int, code: str) -> None:
    assert status_of(error)[0] == status
    assert error_code(error) == code


def test_every_code_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Errors", 1)[1].split("\n## ", 1)[0]
    codes = {code for *_, code in errors_module._TABLE} | {"invalid_json", "not_found", "method_not_allowed"}
    assert {code for code in codes if f"`{code}`" not in section} == set()


def test_error_codes_on_the_wire(stack: Stack) -> None:
    missing = post(stack, {"messages": [{"role": "user", "content": "hi"}]})
    assert error_of(missing)["code"] == "missing_required_parameter"
    assert error_of(post(stack, hi(messages=[])))["code"] == "invalid_value"
    not_json = httpx.post(
        stack.base_url + "/chat/completions", content=b"{", headers={"Authorization": f"Bearer {API_KEY}"}
    )
    assert error_of(not_json)["code"] == "invalid_json"
    anonymous = httpx.post(stack.base_url + "/chat/completions", json=hi())
    assert (anonymous.status_code, error_of(anonymous)["code"]) == (401, "invalid_api_key")
    stack.sim(
        "POST", "/_sim/faults", json={"fault": "http_500", "times": 0, "path": "/api/v0/chat/completion"}
    )
    try:
        failed = post(stack, hi())
    finally:
        stack.sim("DELETE", "/_sim/faults")
    assert (failed.status_code, error_of(failed)["code"]) == (502, "upstream_server_error")
    unknown_path = httpx.get(stack.server.url + "/v2/nothing")
    assert (unknown_path.status_code, error_of(unknown_path)["code"]) == (404, "not_found")
    wrong_method = httpx.delete(stack.base_url + "/chat/completions")
    assert (wrong_method.status_code, error_of(wrong_method)["code"]) == (405, "method_not_allowed")


# -- echoed values are short --------------------------------------------------------------------


def test_echoed_values_are_truncated(stack: Stack) -> None:
    huge_model = post(stack, hi(model="m" * 1_000_000))
    assert huge_model.status_code == 404
    assert len(error_of(huge_model)["message"]) < 1000
    assert "m" * 64 + "…" in error_of(huge_model)["message"]
    long_path = "/v1/" + "p" * 10_000
    for response in (httpx.get(stack.server.url + long_path), httpx.put(stack.base_url + "/models")):
        assert len(error_of(response)["message"]) < 300
    assert "p" * 60 + "…" in error_of(httpx.get(stack.server.url + long_path))["message"]


# -- nothing silently dropped -------------------------------------------------------------------


# Images and files are delivered now (tests/api/test_attachments.py); audio still cannot be.
@pytest.mark.parametrize(
    "part",
    [
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "video_url", "video_url": {"url": "https://example.com/a.mp4"}},
    ],
)
def test_undeliverable_content_parts_are_refused(stack: Stack, part: dict[str, Any]) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "What is in this?"}, part]},
    ]
    response = post(stack, hi(model="deepseek-v4-vision", messages=messages))
    assert response.status_code == 400
    error = error_of(response)
    assert (error["param"], error["code"]) == ("messages.1.content.1", "unsupported_content")
    assert part["type"] in error["message"]
    assert stack.upstream_requests("/chat/completion") == []  # the model never answered without it


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"logprobs": True}, "logprobs"),
        ({"logprobs": True, "top_logprobs": 3}, "logprobs"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"n": 2}, "n"),
        ({"response_format": {"type": "grammar"}}, "response_format.type"),
    ],
)
def test_options_that_cannot_be_honoured_are_refused(
    stack: Stack, fields: dict[str, Any], param: str
) -> None:
    response = post(stack, hi(**fields))
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "unsupported_parameter"
    assert error["param"] == param
    assert stack.upstream_requests("/chat/completion") == []


def test_harmless_values_of_those_options_are_accepted(stack: Stack) -> None:
    fields = {"logprobs": False, "top_logprobs": 0, "n": 1, "response_format": {"type": "text"}}
    response = post(stack, hi(**fields))
    assert response.status_code == 200, response.text


# -- models.retrieve and HEAD /ping -------------------------------------------------------------


def test_sdk_models_retrieve(stack: Stack) -> None:
    client = sdk_client(openai.OpenAI, stack.base_url, API_KEY)
    assert client.models.retrieve("deepseek-chat").id == "deepseek-chat"
    unlisted = client.models.retrieve("deepseek-v4-pro-search-fold")  # valid, though not in the list
    assert (unlisted.id, unlisted.object) == ("deepseek-v4-pro-search-fold", "model")
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("llama-3-70b")  # gpt-* and claude-* are served names
    assert caught.value.body["code"] == "model_not_found"  # type: ignore[index]


def test_head_ping(stack: Stack) -> None:
    response = httpx.head(stack.server.url + "/ping")
    assert response.status_code == 200 and response.content == b""


# -- a client that hangs up while sending -------------------------------------------------------


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_client_dropping_mid_body_is_one_debug_line(stack: Stack) -> None:
    records = _Records()
    watched = [logging.getLogger(name) for name in ("uvicorn.error", "deepseek_free_api")]
    levels = [logger.level for logger in watched]
    for logger in watched:
        logger.addHandler(records)
        logger.setLevel(logging.DEBUG)
    try:
        with socket.create_connection((stack.server.host, stack.server.port)) as sock:
            head = (
                "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n"
                "Content-Length: 100000\r\n\r\n"
            )
            sock.sendall(head.encode() + b'{"model": "deepseek-chat", "messages": [')
        deadline = time.monotonic() + 10
        while not _said_something(records.records) and time.monotonic() < deadline:
            time.sleep(0.02)
        # the server is still fine for the next client
        assert httpx.get(stack.server.url + "/ping").text == "pong"
    finally:
        for logger, level in zip(watched, levels, strict=True):
            logger.removeHandler(records)
            logger.setLevel(level)
    loud = [record.getMessage() for record in records.records if record.levelno >= logging.WARNING]
    assert loud == []
    assert len([record for record in records.records if "went away" in record.getMessage()]) == 1


def _said_something(records: list[logging.LogRecord]) -> bool:
    return any(r.levelno >= logging.WARNING or "went away" in r.getMessage() for r in records)
