"""The OpenAPI document that /docs shows: real request bodies, bearer auth, documented errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import API_KEY, Stack, simulator_config, start_stack


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from start_stack(simulator_config())


@pytest.fixture(scope="module")
def document(stack: Stack) -> dict[str, Any]:
    response = httpx.get(stack.server.url + "/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return resolved


def test_chat_request_body_is_the_real_schema(document: dict[str, Any]) -> None:
    chat = document["paths"]["/v1/chat/completions"]["post"]
    body = chat["requestBody"]
    assert body["required"] is True
    schema = resolve(document, body["content"]["application/json"]["schema"])
    assert set(schema["required"]) == {"model", "messages"}
    properties = schema["properties"]
    for name in (
        "stream",
        "max_tokens",
        "stop",
        "tools",
        "tool_choice",
        "conversation_id",
        "reasoning_format",
    ):
        assert name in properties
    # every optional field may be null, as the SDKs send it
    assert {"type": "null"} in properties["stream"]["anyOf"]
    message = resolve(document, properties["messages"]["items"])
    assert "system" in message["properties"]["role"]["enum"]
    assert chat["security"] == [{"bearer": []}, {"x-api-key": []}]
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}


def test_anthropic_routes_document_their_bodies_and_keys(document: dict[str, Any]) -> None:
    for path, required in (("/v1/messages", "max_tokens"), ("/v1/messages/count_tokens", "messages")):
        operation = document["paths"][path]["post"]
        body = operation["requestBody"]
        assert body["required"] is True
        schema = resolve(document, body["content"]["application/json"]["schema"])
        assert required in schema["required"] and "model" in schema["required"]
        # Claude Code and the Anthropic SDKs send the key as x-api-key
        assert {"x-api-key": []} in operation["security"]


def test_wrong_method_names_every_method_of_the_path(stack: Stack) -> None:
    # /ping has a GET and a HEAD route: Starlette's Allow named only the last one (HEAD).
    response = httpx.request("OPTIONS", stack.server.url + "/ping")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    response = httpx.delete(stack.base_url + "/chat/completions")
    assert response.status_code == 405 and response.headers["allow"] == "POST"


def test_anonymous_servers_document_credentials_as_optional() -> None:
    with_anonymous = start_stack(simulator_config(), allow_anonymous=True)
    stack = next(with_anonymous)
    try:
        document = httpx.get(stack.server.url + "/openapi.json").json()
        assert {} in document["paths"]["/v1/chat/completions"]["post"]["security"]
        served = httpx.post(
            stack.base_url + "/chat/completions",
            json={"model": "deepseek-chat", "messages": [{"role": "user", "content": "hi"}]},
            timeout=30,
        )
        assert served.status_code == 200  # what the document now says: no credentials needed
    finally:
        with_anonymous.close()


def test_responses_are_documented(document: dict[str, Any]) -> None:
    chat = document["paths"]["/v1/chat/completions"]["post"]["responses"]
    assert set(chat["200"]["content"]) == {"application/json", "text/event-stream"}
    for status in ("400", "401", "404", "413", "429", "502", "503", "504"):
        assert chat[status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorResponse"
        }
    error = resolve(document, {"$ref": "#/components/schemas/ErrorResponse"})
    detail = resolve(document, error["properties"]["error"])
    assert set(detail["required"]) == {"message", "type", "param", "code"}
    for operations in document["paths"].values():
        for operation in operations.values():
            assert "422" not in operation["responses"]  # never sent: errors are 400 in the envelope
            assert "default" in operation["responses"]
    token_check = document["paths"]["/token/check"]["post"]
    assert resolve(document, token_check["requestBody"]["content"]["application/json"]["schema"])[
        "required"
    ] == ["token"]
    assert "/v1/models/{model_id}" in document["paths"]
    assert "head" in document["paths"]["/ping"]


def test_docs_page_loads_nothing_from_other_sites(stack: Stack) -> None:
    # FastAPI's page loads Swagger UI from a CDN: blank without internet.
    page = httpx.get(stack.server.url + "/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text) + re.findall(r"url: '([^']+)'", page.text)
    assert sources and not [source for source in sources if "://" in source or source.startswith("//")]
    for source in sources:
        asset = httpx.get(stack.server.url + source)
        assert asset.status_code == 200 and asset.content, source
    script = httpx.get(stack.server.url + "/static/swagger-ui/swagger-ui-bundle.js")
    assert script.headers["content-type"].startswith("text/javascript") and b"SwaggerUI" in script.content
    assert httpx.get(stack.server.url + "/static/swagger-ui/LICENSE").status_code == 404  # only the 3 assets


def test_docs_page_and_a_request_as_docs_sends_it(stack: Stack, document: dict[str, Any]) -> None:
    assert httpx.get(stack.server.url + "/docs").status_code == 200
    # /docs sends the body the schema describes, with the bearer from "Authorize"
    request_body = document["paths"]["/v1/chat/completions"]["post"]["requestBody"]
    schema = resolve(document, request_body["content"]["application/json"]["schema"])
    body: dict[str, Any] = {name: None for name in schema["properties"] if name not in schema["required"]}
    body.update(model="deepseek-chat", messages=[{"role": "user", "content": "from the docs"}])
    response = httpx.post(
        stack.base_url + "/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"].startswith("Echo: from the docs")
