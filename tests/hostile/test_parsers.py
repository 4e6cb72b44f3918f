"""The two HTTP parsers `serve` may run (server.http_parser) treat malformed requests alike.

httptools (the default where installed) is stricter than h11 in places, never laxer: what h11
refuses, httptools refuses too, with the same 400; an incomplete request head is bounded by the
same 16 KiB. Raw requests over a socket to two `serve` processes, one per parser.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from deepseek_free_api.background import free_port
from tests.hostile.test_connections import _read_until_closed
from tests.support.processes import CLI, Running, clean_env, running

PING = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
CHAT = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
# h11 refuses each of these with 400 and closes; so must httptools.
REFUSED = {
    "transfer-encoding-gzip": CHAT + b"Transfer-Encoding: gzip\r\n\r\nabc",
    "transfer-encoding-gzip-chunked": CHAT + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "two-content-lengths": CHAT + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "content-length-not-a-number": CHAT + b"Content-Length: abc\r\n\r\n",
    "http-1.1-without-host": b"GET /ping HTTP/1.1\r\n\r\n",
    "two-hosts": b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: localhost\r\n\r\n",
    "http-0.9": b"GET /ping\r\n\r\n",
    "space-before-colon": b"GET /ping HTTP/1.1\r\nHost : 127.0.0.1\r\n\r\n",
    "nul-in-a-header": b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\x00b\r\n\r\n",
    "tls-to-a-plain-port": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03hello\r\n\r\n",
}
# Requests both parsers answer the same way (a status each, the connection kept or closed).
SERVED = {
    "ping": (PING, [b"200"], False),
    "http-1.0": (b"GET /ping HTTP/1.0\r\n\r\n", [b"200"], True),
    "pipelined": (PING + PING, [b"200", b"200"], False),
    "head-of-15-kib": (PING[:-2] + b"X-Big: " + b"a" * 15_000 + b"\r\n\r\n", [b"200"], False),
    "chunked-body": (CHAT + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", [b"401"], False),
}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Running]]:
    """A `serve` per parser (no accounts needed: the requests never reach the upstream)."""
    folder = tmp_path_factory.mktemp("parsers")
    with _serve("auto", folder) as auto, _serve("h11", folder) as h11:
        yield {"auto": auto, "h11": h11}


def _serve(parser: str, folder: Path) -> AbstractContextManager[Running]:
    port = free_port()
    env = clean_env(DEEPSEEK_FREE_API_SERVER_HTTP_PARSER=parser)
    return running([*CLI, "serve", "--port", str(port)], port, env=env, log_file=folder / f"{parser}.log")


def _exchange(server: Running, data: bytes, *, wait_s: float = 3.0) -> tuple[list[bytes], bool]:
    """Send ``data``; the statuses of the responses, and whether the server closed within ``wait_s``."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        received, closed_after = _read_until_closed(sock, wait_s)
    return [part[2:5] for part in received.split(b"HTTP/1.")[1:]], closed_after is not None


def test_the_default_is_httptools_on_uvloop_where_installed(servers: dict[str, Running]) -> None:
    assert "HTTP parser: httptools; event loop: uvloop" in servers["auto"].logged()
    assert "HTTP parser: h11; event loop: uvloop" in servers["h11"].logged()


@pytest.mark.parametrize("request_bytes", REFUSED.values(), ids=REFUSED.keys())
@pytest.mark.parametrize("parser", ["auto", "h11"])
def test_what_h11_refuses_is_refused_by_both(
    servers: dict[str, Running], parser: str, request_bytes: bytes
) -> None:
    assert _exchange(servers[parser], request_bytes) == ([b"400"], True)


@pytest.mark.parametrize(("request_bytes", "statuses", "closes"), SERVED.values(), ids=SERVED.keys())
@pytest.mark.parametrize("parser", ["auto", "h11"])
def test_well_formed_requests_are_answered_alike(
    servers: dict[str, Running], parser: str, request_bytes: bytes, statuses: list[bytes], closes: bool
) -> None:
    assert _exchange(servers[parser], request_bytes, wait_s=1.0) == (statuses, closes)


@pytest.mark.parametrize("parser", ["auto", "h11"])
def test_a_request_head_growing_past_16_kib_is_refused(servers: dict[str, Running], parser: str) -> None:
    host, port = servers[parser].url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sent = 0
        try:
            while sent < 1_000_000:  # without a bound the server would buffer all of it
                sock.sendall(b"X-Header: " + b"a" * 1000 + b"\r\n")
                sent += 1012
                time.sleep(0.002)  # separate reads: the head is incomplete in each
        except OSError:  # closed by the server while we were still sending
            pass
        sock.settimeout(5)
        try:
            answer = sock.recv(65536)
        except ConnectionResetError:  # our unread data made the close a reset: the answer is lost
            answer = b"HTTP/1.1 400 "
    assert sent < 64 * 1024, sent
    assert answer.startswith(b"HTTP/1.1 400 ")


def test_after_an_upgrade_request_httptools_answers_and_closes(servers: dict[str, Running]) -> None:
    upgrade = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    # h11 reads on after the plain answer; llhttp parses nothing after an upgrade: no hang.
    assert _exchange(servers["h11"], upgrade + PING, wait_s=1.0) == ([b"200", b"200"], False)
    assert _exchange(servers["auto"], upgrade + PING, wait_s=1.0) == ([b"200"], True)
