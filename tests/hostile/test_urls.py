"""Image and file URLs are read the way curl will read them: a malformed one is a 400, never a 500.

``urlsplit`` silently drops a TAB or line break, and strips leading and trailing control
characters and spaces; curl does not. A URL the two read differently must be refused before
any connection (it could even lead curl to a host the address check never saw), and whatever
curl itself reports is a ``400 url_fetch_failed`` naming the part.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from deepseek_free_api.chat.addresses import IPAddress
from deepseek_free_api.chat.remote import RemoteFetcher
from deepseek_free_api.errors import RequestError
from tests.api.conftest import API_KEY
from tests.hostile.serve_stack import served

PARAM = "messages.0.content.0.image_url.url"

# (URL, why curl and urlsplit would not agree on it, or why it is refused outright)
MALFORMED = [
    ("http://8.8.8.8\t/a.png", "a TAB in the host: urlsplit drops it, curl rejects the URL"),
    ("http://8.8.8.8\n/a.png", "a line feed in the host"),
    ("http://8.8.8.8/a\r\n.png", "CR LF in the path"),
    (" http://8.8.8.8/a.png", "a leading space: urlsplit strips it"),
    ("http://8.8.8.8/a.png\x00", "a trailing NUL: urlsplit strips it"),
    ("http://8.8.8.8/a\x7f.png", "DEL"),
    ("http://8.8.8.8/a b.png", "a space"),
    ("http://8.8.8.8\\@127.0.0.1/a.png", "a backslash: browsers read it as '/', urlsplit does not"),
    ("http://user:secret@8.8.8.8/a.png", "credentials in the URL"),
    ("http://%38.8.8.8/a.png", "percent-encoding in the host"),
    ("http://0x7f.1/a.png", "an IPv4 address in a non-standard form"),
    ("http://2130706433/a.png", "an IPv4 address as one number"),
    ("http://[fe80::1%25eth0]/a.png", "an IPv6 zone"),
    ("http://exa\u00a0mple.com/a.png", "a non-ASCII character in the host"),
    ("http://8.8.8.8:0/a.png", "port 0"),
    ("http://8.8.8.8:99999/a.png", "a port out of range"),
    ("ftp://8.8.8.8/a.png", "not http(s)"),
]


def chat_with_image(url: str) -> dict[str, Any]:
    part = {"type": "image_url", "image_url": {"url": url}}
    return {"model": "deepseek-v4-vision", "messages": [{"role": "user", "content": [part]}]}


def test_a_tab_or_line_feed_in_the_host_is_a_400_through_the_server() -> None:
    with served(files__remote_urls="true") as stack:
        for url in ("http://8.8.8.8\t/a.png", "http://8.8.8.8\n/a.png", "http://8.8.8.8\r/a.png"):
            response = httpx.post(
                stack.url + "/v1/chat/completions",
                json=chat_with_image(url),
                headers={"Authorization": f"Bearer {API_KEY}"},
                timeout=30,
            )
            assert response.status_code == 400, (repr(url), response.text)
            error = response.json()["error"]
            assert (error["code"], error["param"]) == ("url_refused", PARAM)
        assert stack.upstream_requests("/file/upload_file") == []
    assert "Traceback" not in stack.server.output, stack.server.output


def _never_resolve(host: str, port: int) -> Any:
    raise AssertionError(f"{host!r} was resolved: the URL should have been refused before")


def _anything(address: IPAddress) -> bool:
    return True


def _refusal(fetcher: RemoteFetcher, url: str) -> RequestError:
    with pytest.raises(RequestError) as caught:
        asyncio.run(fetcher.fetch(url, PARAM))
    assert caught.value.param == PARAM
    return caught.value


@pytest.mark.parametrize(("url", "why"), MALFORMED, ids=[why for _, why in MALFORMED])
def test_a_url_curl_would_read_differently_is_refused_before_any_lookup(url: str, why: str) -> None:
    # Every address allowed and no resolver: only the URL check stands between the URL and curl.
    fetcher = RemoteFetcher(max_bytes=4096, timeout_s=2.0, resolver=_never_resolve, address_allowed=_anything)
    error = _refusal(fetcher, url)
    assert error.code == "url_refused", (why, error.message)
    assert "\t" not in error.message and "\n" not in error.message and "secret" not in error.message


class _BadSite:
    """A TCP server on loopback that answers each connection with ``reply`` (or nothing) and closes."""

    def __init__(self, reply: bytes) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.reply = reply
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection:
                connection.recv(65536)
                if self.reply:
                    connection.sendall(self.reply)


@pytest.fixture(params=[b"", b"garbage\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"])
def bad_site(request: pytest.FixtureRequest) -> Iterator[_BadSite]:
    site = _BadSite(request.param)
    yield site
    site.listener.close()


def test_every_curl_error_is_a_400_url_fetch_failed(bad_site: _BadSite) -> None:
    fetcher = RemoteFetcher(max_bytes=4096, timeout_s=5.0, address_allowed=_anything)
    error = _refusal(fetcher, f"http://127.0.0.1:{bad_site.port}/a.png")
    assert type(error) is RequestError and error.code == "url_fetch_failed"  # a 400, not a 413 or 500


def test_a_well_formed_url_still_fetches_with_its_query_and_escapes() -> None:
    # What curl is given keeps percent-escapes and the query; non-ASCII in the path is escaped.
    seen: list[bytes] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def answer() -> None:
            connection, _ = listener.accept()
            with connection:
                seen.append(connection.recv(65536))
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        fetcher = RemoteFetcher(max_bytes=4096, timeout_s=5.0, address_allowed=_anything)
        url = f"http://127.0.0.1:{port}/a%20b/caf\u00e9.png?size=2&x=%7C#frag"
        fetched = asyncio.run(fetcher.fetch(url, PARAM))
        thread.join(5)
    assert fetched.data == b"ok" and fetched.filename == "café.png"
    request_line = seen[0].split(b"\r\n", 1)[0]
    assert request_line == b"GET /a%20b/caf%C3%A9.png?size=2&x=%7C HTTP/1.1"
