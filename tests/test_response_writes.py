"""A response's head goes out in the same write as its first body bytes, with either parser.

uvicorn writes the status line and headers as soon as the app starts a response and the body in
a second write: two TCP segments, and a client woken for a head it can do nothing with before the
body comes (the first token of a stream, measured at 1 concurrent: BENCHMARKS.md, session 12).
The connection's protocol is driven here over a transport that records each write.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from deepseek_free_api.net.connection import GuardedConnection
from deepseek_free_api.net.guard import ConnectionGuard, Limits
from deepseek_free_api.net.h11_connection import GuardedH11Protocol
from deepseek_free_api.net.httptools_connection import GuardedHttpToolsProtocol

PROTOCOLS: dict[str, type[GuardedConnection]] = {
    "httptools": GuardedHttpToolsProtocol,
    "h11": GuardedH11Protocol,
}
GET = b"GET /%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


class Recording(asyncio.Transport):
    """What the server wrote, write by write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        assert not self.closed, "written after close"
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """``/stream``: a head and three events; ``/late``: the head, then its body 50 ms later;
    ``/head``: a HEAD-like answer without body bytes; ``/close``: the body, then the connection closed."""
    path = scope["path"]
    headers = [(b"content-type", b"text/event-stream")]
    if path == "/close":
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if path == "/late":
        await asyncio.sleep(0.05)
    if path == "/head":
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    for n in range(3):
        await send({"type": "http.response.body", "body": b"data: %d\n\n" % n, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def exchange(parser: str, *requests: bytes) -> Recording:
    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    config.load()
    guard = ConnectionGuard(Limits(10.0, 10.0, 1, 100), PROTOCOLS[parser])
    protocol: Any = guard.protocol_class(  # type: ignore[call-arg]
        config=config, server_state=ServerState(), app_state={}, _loop=asyncio.get_running_loop()
    )
    transport = Recording()
    protocol.connection_made(transport)
    for data in requests:
        protocol.data_received(data)
        await asyncio.sleep(0.1)
    protocol.connection_lost(None)
    return transport


@pytest.mark.parametrize("parser", PROTOCOLS)
def test_the_head_and_the_first_event_go_in_one_write(parser: str) -> None:
    writes = asyncio.run(exchange(parser, GET % b"stream")).writes
    # On a12a27b the head was a write of its own: writes[0] ended at the blank line after it.
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n"), writes
    assert b"\r\n\r\n" in writes[0] and b"data: 0\n\n" in writes[0], writes
    assert b"".join(writes).count(b"data: ") == 3


@pytest.mark.parametrize("parser", PROTOCOLS)
def test_a_head_whose_body_is_late_is_not_held_for_it(parser: str) -> None:
    """A stream whose first event is not ready yet (its body comes 50 ms later here) gets its head
    at the end of that turn of the event loop, on its own."""
    writes = asyncio.run(exchange(parser, GET % b"late")).writes
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n") and writes[0].endswith(b"\r\n\r\n"), writes
    assert b"data: 0" in writes[1]


@pytest.mark.parametrize("parser", PROTOCOLS)
@pytest.mark.parametrize("path", [b"head", b"close"])
def test_every_response_is_written_whole_and_in_order(parser: str, path: bytes) -> None:
    """A response without body bytes with a second request behind it on the connection, and one
    that closes the connection: each head comes first and nothing is written after the close."""
    behind = [GET % b"stream"] if path == b"head" else []  # a closed connection takes no more
    transport = asyncio.run(exchange(parser, GET % path, *behind))
    wire = b"".join(transport.writes)
    assert wire.startswith(b"HTTP/1.1 200 OK\r\n"), wire
    if path == b"close":
        assert wire.count(b"HTTP/1.1 200") == 1 and wire.count(b"data: ") == 3 and transport.closed
    else:
        assert wire.count(b"HTTP/1.1 200") == 2 and wire.count(b"data: ") == 3
        assert wire.index(b"HTTP/1.1 200", 1) < wire.index(b"data: 0")
