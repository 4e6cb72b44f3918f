"""A data: URL costs memory in proportion to itself, and a percent-encoded one is for short text only.

On the base code a 7.5 MB ``data:`` URL of 2.5 million ``%41`` escapes took the server from about
60 MB to 645 MB resident (urllib's decoder keeps every escape as its own object) and stalled it
for a second, before DeepSeek had seen the made-up bearer token it came with.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.hostile.input_server import PingWatch, Served, served
from tests.support.processes import peak_rss_mb

ESCAPES = 2_500_000  # 7.5 MB of "%41"
PEAK_RISE_MB = 60


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    with served() as running:
        yield running


def _with_part(model: str, part: dict[str, Any]) -> dict[str, Any]:
    content = [{"type": "text", "text": "What is in here?"}, part]
    return {"model": model, "messages": [{"role": "user", "content": content}]}


def test_a_huge_percent_encoded_data_url_is_refused_without_the_memory_it_used_to_take(
    server: Served,
) -> None:
    before = peak_rss_mb(server.pid)
    url = "data:image/png," + "%41" * ESCAPES
    body = _with_part("deepseek-v4-vision", {"type": "image_url", "image_url": {"url": url}})
    with PingWatch(server.url) as watch:
        response = server.post("/v1/chat/completions", body, token="made-up-token-0123456789")
    rise = peak_rss_mb(server.pid) - before
    assert rise < PEAK_RISE_MB, f"the server's peak memory rose by {rise:.0f} MB"
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["param"] == "messages.0.content.1.image_url.url" and "base64" in error["message"]
    assert not watch.failures and watch.slowest < 0.5, (watch.failures, watch.slowest)
    assert server.upstream("/upload_file") == []


def test_a_short_percent_encoded_text_file_still_reaches_deepseek_decoded(server: Served) -> None:
    text = "caf\u00e9 & cr\u00e8me, 100% fine\n" * 100
    encoded = quote(text)
    part = {"type": "file", "file": {"filename": "menu.txt", "file_data": "data:text/plain," + encoded}}
    response = server.post("/v1/chat/completions", _with_part("deepseek-v4-flash", part))
    assert response.status_code == 200, response.text
    [upload] = server.upstream("/upload_file")
    assert upload["headers"]["x-file-size"] == str(len(text.encode()))
