"""A fast event stream over HTTP/2, as DeepSeek serves it: read in holds, every byte in order.

The simulator speaks HTTP/1.1, where holding a transfer (``StreamBody.hold``) stops reading its
socket. DeepSeek answers over TLS with h2, where libcurl pauses the stream instead (its bytes wait
in libcurl or the flow-control window). A TLS listener on ``https://localhost`` here answers each
request with an event stream over h2, each event in a DATA frame of its own, written back to back
in bursts: a stream steady from its first chunk is held from its third fast one on, and must
still arrive whole and in order; one closed while held leaves the connection and its handle fit
for the next stream.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
from dataclasses import fields
from pathlib import Path

import pytest

from deepseek_free_api.config import PersonaSettings
from deepseek_free_api.upstream.client import CompletionParams, DeepSeekClient
from deepseek_free_api.upstream.persona import Persona

from .held import ALPHA, closed_while_held, on_hold, read_steady

PERSONA = Persona(**{f.name: getattr(PersonaSettings(), f.name) for f in fields(Persona)})
DATA, HEADERS, SETTINGS = 0, 1, 4
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
# HPACK, static table only: ":status: 200" (index 8), then content-type (name index 31) as a literal.
RESPONSE_HEAD = b"\x88\x0f\x10\x11text/event-stream"
EVENTS = 3000


def event(number: int) -> bytes:
    """The ``number``th event: numbered, so that a lost or reordered byte shows."""
    return b'data: {"v":"%06d "}\n\n' % number


BODY = b"".join(event(n) for n in range(EVENTS))


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes((kind, flags)) + struct.pack(">I", stream) + payload


async def answer(writer: asyncio.StreamWriter, stream: int) -> None:
    """The response on ``stream``: its head, the events 50 to a write with a pause between writes
    (so that they come in many reads unless held), then the end."""
    writer.write(frame(HEADERS, END_HEADERS, stream, RESPONSE_HEAD))
    for first in range(0, EVENTS, 50):
        numbers = range(first, min(first + 50, EVENTS))
        writer.write(b"".join(frame(DATA, 0, stream, event(n)) for n in numbers))
        await writer.drain()
        await asyncio.sleep(0.0005)
    writer.write(frame(DATA, END_STREAM, stream))
    await writer.drain()


WRITERS: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}  # the listener's connections, their handlers


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """h2 without the niceties: settings exchanged, each request answered once its headers (or
    body) end; everything else the client sends (window updates, priorities, resets) is read and
    left alone. The events fit the client's windows, so none is waited for."""
    answers: list[asyncio.Task[None]] = []
    WRITERS[writer] = asyncio.current_task()  # type: ignore[assignment]
    try:
        assert await reader.readexactly(24) == b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        writer.write(frame(SETTINGS, 0, 0))
        while True:
            head = await reader.readexactly(9)
            size, kind, flags = struct.unpack(">I", b"\0" + head[:3])[0], head[3], head[4]
            stream = struct.unpack(">I", head[5:])[0] & 0x7FFFFFFF
            await reader.readexactly(size)
            if kind == SETTINGS and not flags & ACK:
                writer.write(frame(SETTINGS, ACK, 0))
            elif kind in (HEADERS, DATA) and flags & END_STREAM and stream:
                answers.append(asyncio.create_task(answer(writer, stream)))
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        for task in answers:
            task.cancel()
        writer.transport.abort()


async def opened(files: tuple[Path, Path, Path]) -> tuple[asyncio.Server, DeepSeekClient]:
    """The h2 listener with the test's certificate, and a client of it with one handle."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*files[1:])
    context.set_alpn_protocols(["h2"])
    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    url = f"https://localhost:{server.sockets[0].getsockname()[1]}"
    return server, DeepSeekClient(url, PERSONA, max_transfers=1, connect_timeout=5, idle_timeout=5)


async def closed(server: asyncio.Server, client: DeepSeekClient) -> None:
    """The client, the listener and every connection it accepted, closed and waited for."""
    await client.aclose()
    server.close()
    for writer, handler in list(WRITERS.items()):
        writer.transport.abort()  # no TLS goodbye: the client's connection may still sit in its cache
        await asyncio.wait([handler], timeout=5)  # its read ends with the connection
        del WRITERS[writer]
    await server.wait_closed()


def test_a_fast_stream_over_http2_is_held_and_arrives_whole_and_in_order(
    certificate: tuple[Path, Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    holds = 0

    async def main() -> bytes:
        nonlocal holds
        server, client = await opened(certificate)
        try:
            stream = client.completion(ALPHA, CompletionParams("session-1", "hello"), "pow")
            await stream.open()

            def seen(until: float) -> None:
                nonlocal holds
                holds += 1

            on_hold(stream, seen)
            try:
                return b"".join(await read_steady(stream))
            finally:
                await stream.aclose()
        finally:
            await closed(server, client)

    body = asyncio.run(asyncio.wait_for(main(), 60))
    assert holds > 0, "the stream was never held"
    assert len(body) == len(BODY) and body == BODY, "bytes lost or out of order"


def test_an_http2_stream_closed_while_held_leaves_the_handle_fit_for_the_next_stream(
    certificate: tuple[Path, Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))

    async def main() -> bytes:
        server, client = await opened(certificate)
        try:
            stream = client.completion(ALPHA, CompletionParams("session-1", "hello"), "pow")
            await stream.open()
            return await closed_while_held(client, stream, 200)
        finally:
            await closed(server, client)

    assert asyncio.run(asyncio.wait_for(main(), 60)) == BODY
