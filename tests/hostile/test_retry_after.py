"""``503 no_usable_account`` says when to come back: the next re-check of the server's accounts.

The only server account is revoked upstream: the first request finds out (and marks it invalid
for ``INVALID_RECHECK_S``), later ones are refused before any upstream call. Every dialect's answer
carries ``Retry-After`` with the seconds left until that re-check.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from deepseek_free_api.accounts.health import INVALID_RECHECK_S
from tests.api.conftest import API_KEY, Stack, simulator_config, start_stack

HEADERS = {"Authorization": f"Bearer {API_KEY}"}
CHAT = {"model": "deepseek-chat", "messages": [{"role": "user", "content": "hi"}]}
DIALECTS: list[tuple[str, dict[str, Any], int]] = [
    ("/v1/chat/completions", CHAT, 503),
    ("/v1/messages", {**CHAT, "model": "claude-haiku-4-5", "max_tokens": 64}, 529),
    ("/v1/responses", {"model": "deepseek-chat", "input": "hi"}, 503),
    ("/v1/chat/completions", {**CHAT, "stream": True}, 503),
]


@pytest.fixture(scope="module")
def revoked() -> Iterator[Stack]:
    config = simulator_config(accounts=[{"id": "alpha", "token": "tok-alpha", "revoked": True}])
    yield from start_stack(config, tokens=["tok-alpha"], min_interval_s=0.0)


@pytest.mark.parametrize("round_", [1, 2])
def test_no_usable_account_carries_retry_after_in_every_dialect(revoked: Stack, round_: int) -> None:
    for path, body, status in DIALECTS:
        response = httpx.post(revoked.server.url + path, json=body, headers=HEADERS, timeout=30)
        assert response.status_code == status, (path, response.text)
        assert "no_usable_account" in response.text or "overloaded_error" in response.text
        retry_after = response.headers.get("retry-after")
        assert retry_after is not None, (path, dict(response.headers))
        assert INVALID_RECHECK_S - 60 < int(retry_after) <= INVALID_RECHECK_S, (path, retry_after)
