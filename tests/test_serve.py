"""`deepseek-free-api serve --demo` as a newcomer runs it: a real process, curl-like calls, no key."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from deepseek_free_api.background import free_port


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "deepseek_free_api", "serve", "--demo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                if httpx.get(url + "/ping").text == "pong":
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
        assert "DEMO MODE" in output


def test_demo_answers_without_a_key(demo_url: str) -> None:
    body = {"model": "deepseek-reasoner", "messages": [{"role": "user", "content": "hello demo"}]}
    reply = httpx.post(demo_url + "/v1/chat/completions", json=body, timeout=30).json()
    message = reply["choices"][0]["message"]
    assert message["content"].startswith("Echo: hello demo | model=default thinking=true")
    assert message["reasoning_content"]


def test_demo_lists_models(demo_url: str) -> None:
    ids = [m["id"] for m in httpx.get(demo_url + "/v1/models").json()["data"]]
    assert "deepseek-v4-pro" in ids
