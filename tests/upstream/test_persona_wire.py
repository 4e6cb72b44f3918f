"""The headers of one request, as they leave the process, describe one browser on one page.

curl_cffi, impersonating Chrome, adds the headers of a page load of its own (Sec-Fetch-Mode:
navigate, Sec-Fetch-Dest: document, Upgrade-Insecure-Requests) and claimed macOS in
sec-ch-ua-platform while the User-Agent said Windows: a WAF comparing them saw two browsers.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from deepseek_free_api.config import ConfigError, load_settings
from deepseek_free_api.errors import UpstreamProtocolError
from deepseek_free_api.upstream.client import CompletionParams, DeepSeekClient, Identity
from deepseek_free_api.upstream.persona import Locality

Captured = list[tuple[str, dict[str, str]]]


@pytest.fixture
def capture() -> Iterator[tuple[str, Captured]]:
    """A local HTTP server that records each request's path and headers and answers ``{}``."""
    seen: Captured = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            body = b'{"code":0,"data":{"biz_code":0,"biz_data":{}}}'
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()


def _client(url: str, **overrides: Any) -> DeepSeekClient:
    return DeepSeekClient.from_settings(load_settings(env={}, overrides={"base_url": url, **overrides}))


def test_a_web_request_is_one_chrome_fetch_from_the_chat_page(capture: tuple[str, Captured]) -> None:
    url, seen = capture
    identity = Identity(token="tok-a", device_id="device-a")

    async def main() -> None:
        client = _client(url)
        try:
            await client.current_user(identity)
            stream = client.completion(identity, CompletionParams(session_id="sess-1", prompt="hi"), "pow")
            try:
                await stream.open()
            except Exception:  # noqa: BLE001 - "{}" is not an event stream; only the headers matter here
                pass
            finally:
                await stream.aclose()
        finally:
            await client.aclose()

    asyncio.run(main())
    (_, plain), (path, completion) = seen
    assert path.endswith("/chat/completion")
    for headers in (plain, completion):
        agent = headers["user-agent"]
        assert "Windows NT" in agent and headers["sec-ch-ua-platform"] == '"Windows"'
        version = re.search(r"Chrome/(\d+)", agent)
        assert version is not None and f'"Google Chrome";v="{version.group(1)}"' in headers["sec-ch-ua"]
        assert headers["sec-ch-ua-mobile"] == "?0"
        # A fetch() from the page, not a navigation.
        assert (headers["sec-fetch-site"], headers["sec-fetch-mode"], headers["sec-fetch-dest"]) == (
            "same-origin",
            "cors",
            "empty",
        )
        assert "upgrade-insecure-requests" not in headers and "sec-fetch-user" not in headers
        locale = headers["x-client-locale"]
        assert headers["accept-language"].split(",")[0] == locale.replace("_", "-")
        assert headers["origin"] == url
    assert plain["referer"] == url + "/"
    assert completion["referer"] == url + "/a/chat/s/sess-1"  # the session's chat page


def test_the_android_app_sends_no_browser_hints(capture: tuple[str, Captured]) -> None:
    url, seen = capture

    async def main() -> None:
        client = _client(url, platform="android")
        try:
            await client.current_user(Identity(token="tok-a", device_id="device-a"))
        finally:
            await client.aclose()

    asyncio.run(main())
    [(_, headers)] = seen
    assert headers["user-agent"].startswith("DeepSeek/")
    assert not [name for name in headers if name.startswith(("sec-", "upgrade-", "origin", "referer"))]


def test_the_timezone_offset_is_this_machines_unless_configured(capture: tuple[str, Captured]) -> None:
    url, seen = capture

    async def main() -> None:
        for overrides in ({}, {"timezone_offset": "auto"}, {"timezone_offset": "-14400"}):
            client = _client(url, **overrides)
            try:
                await client.current_user(Identity(token="tok-a", device_id="device-a"))
            finally:
                await client.aclose()

    asyncio.run(main())
    offsets = [headers["x-client-timezone-offset"] for _, headers in seen]
    here = str(time.localtime().tm_gmtoff)
    assert offsets == [here, here, "-14400"]


def test_a_user_agent_of_another_chrome_than_the_impersonated_one_is_warned_about() -> None:
    agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0"
    settings = load_settings(env={}, overrides={"user_agent": agent})
    assert any("Chrome 120" in w and "chrome145" in w for w in settings.warnings), settings.warnings
    assert not load_settings(env={}).warnings


def test_an_accounts_own_locality_wins_over_the_persona_and_auto_means_this_machine(
    capture: tuple[str, Captured],
) -> None:
    url, seen = capture
    accounts = [
        Identity(token="tok-a", device_id="device-a", locality=Locality("en-US", 3600)),
        Identity(token="tok-b", device_id="device-b", locality=Locality(None, "auto")),
        Identity(token="tok-c", device_id="device-c"),
    ]

    async def main() -> None:
        client = _client(url, timezone_offset="-14400", locale="fr_FR")
        try:
            for identity in accounts:
                await client.current_user(identity)
            with pytest.raises(UpstreamProtocolError):  # the capture answers "{}": only the headers count
                await client.login(
                    password="p", device_id="d", email="d@example.com", locality=Locality("ja_JP", 32400)
                )
        finally:
            await client.aclose()

    asyncio.run(main())
    here = str(time.localtime().tm_gmtoff)
    shown = [
        (h["x-client-locale"], h["accept-language"], h["x-client-timezone-offset"], h.get("x-device-id"))
        for _, h in seen
    ]
    assert shown == [
        ("en_US", "en-US,en;q=0.9", "3600", "device-a"),
        ("fr_FR", "fr-FR,fr;q=0.9,en;q=0.8", here, "device-b"),
        ("fr_FR", "fr-FR,fr;q=0.9,en;q=0.8", "-14400", "device-c"),
        ("ja_JP", "ja-JP,ja;q=0.9,en;q=0.8", "32400", None),
    ]


def test_a_locale_that_is_no_language_tag_is_refused() -> None:
    for bad in ("en US", "en-US\r\nX-Injected: 1", "zh-" + "x" * 40, "日本語"):
        with pytest.raises(ConfigError, match="persona.locale.*language tag"):
            load_settings(env={"DEEPSEEK_FREE_API_PERSONA_LOCALE": bad})
