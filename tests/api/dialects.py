"""One chat request in each public dialect, raw over HTTP, and how to read its answer or error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tests.api.conftest import API_KEY


@dataclass(frozen=True)
class Dialect:
    """A public API: its path, a request body for a text, and where the answer's text is."""

    name: str
    path: str
    body: Callable[[str], dict[str, Any]]
    text: Callable[[dict[str, Any]], str]
    # The status every server account parked / DeepSeek's edge blocking gives (Anthropic: 529).
    unavailable: int


def _anthropic_text(body: dict[str, Any]) -> str:
    return "".join(block.get("text", "") for block in body["content"])


def _responses_text(body: dict[str, Any]) -> str:
    parts = [c for item in body["output"] if item["type"] == "message" for c in item["content"]]
    return "".join(part.get("text", "") for part in parts)


DIALECTS = (
    Dialect(
        "openai",
        "/v1/chat/completions",
        lambda text: {"model": "deepseek-chat", "messages": [{"role": "user", "content": text}]},
        lambda body: body["choices"][0]["message"]["content"] or "",
        503,
    ),
    Dialect(
        "anthropic",
        "/v1/messages",
        lambda text: {
            "model": "claude-haiku-4-5",
            "max_tokens": 64,
            "messages": [{"role": "user", "content": text}],
        },
        _anthropic_text,
        529,
    ),
    Dialect(
        "responses",
        "/v1/responses",
        lambda text: {"model": "deepseek-chat", "input": text},
        _responses_text,
        503,
    ),
)


def send(server_url: str, dialect: Dialect, text: str, *, timeout: float = 30) -> httpx.Response:
    """One non-streaming request with the service key."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    return httpx.post(server_url + dialect.path, json=dialect.body(text), headers=headers, timeout=timeout)


def error_message(response: httpx.Response) -> str:
    """The error's message in any dialect (all three put it at ``error.message``)."""
    return str(response.json()["error"]["message"])


def health(server_url: str) -> dict[str, dict[str, Any]]:
    """``/readyz``'s ``health`` entries (accounts whose condition is not healthy), by account."""
    body = httpx.get(server_url + "/readyz", timeout=10).json()
    return {entry["account"]: entry for entry in body.get("health", [])}
