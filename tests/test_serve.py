"""`deepseek-free-api serve --demo` as a newcomer runs it: a real process, curl-like calls, no key."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from deepseek_free_api.background import free_port
from tests.support.processes import CLI, running


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    port = free_port()
    with running([*CLI, "serve", "--demo", "--port", str(port)], port) as demo:
        yield demo.url
    assert "DEMO MODE" in demo.output


def test_demo_answers_without_a_key(demo_url: str) -> None:
    body = {"model": "deepseek-reasoner", "messages": [{"role": "user", "content": "hello demo"}]}
    reply = httpx.post(demo_url + "/v1/chat/completions", json=body, timeout=30).json()
    message = reply["choices"][0]["message"]
    assert message["content"].startswith("Echo: hello demo | model=default thinking=true")
    assert message["reasoning_content"]


def test_demo_lists_models(demo_url: str) -> None:
    ids = [m["id"] for m in httpx.get(demo_url + "/v1/models").json()["data"]]
    assert "deepseek-v4-pro" in ids
