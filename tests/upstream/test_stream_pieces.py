"""How a fast event stream reaches the turn: in few pieces, the first at once.

DeepSeek sends each event as one HTTP chunk, and libcurl calls the write callback for each. A
server over a real socket here writes an event stream as DeepSeek does: the first event, then
after a pause the rest, either all at once or a millisecond apart.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import fields

from deepseek_free_api.config import PersonaSettings
from deepseek_free_api.upstream.client import CompletionParams, DeepSeekClient
from deepseek_free_api.upstream.persona import Persona
from deepseek_free_api.upstream.stream import GATHER_S, UpstreamStream
from deepseek_free_api.upstream.wire import Identity

from .held import on_hold, read_steady
from .listener import STREAM_HEAD, read_request

ALPHA = Identity(token="tok-alpha", device_id="device-alpha")
EVENT = b'data: {"p":"response/fragments/-1/content","o":"APPEND","v":"word "}\n\n'


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def serve(rest: int, spacing_s: float | None) -> asyncio.Server:
    """Answers every request with the first event, then (50 ms later) ``rest`` more: in one write
    (``spacing_s`` None) or one every ``spacing_s``."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(STREAM_HEAD + chunk(EVENT))
        await writer.drain()
        await asyncio.sleep(0.05)
        if spacing_s is None:
            writer.write(b"".join(chunk(EVENT) for _ in range(rest)))
        else:
            for _ in range(rest):
                writer.write(chunk(EVENT))
                await writer.drain()
                await asyncio.sleep(spacing_s)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", 0)


async def completion(server: asyncio.Server) -> tuple[DeepSeekClient, UpstreamStream]:
    persona = Persona(**{f.name: getattr(PersonaSettings(), f.name) for f in fields(Persona)})
    client = DeepSeekClient(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", persona)
    stream = client.completion(ALPHA, CompletionParams("session-1", "hello"), "pow")
    await stream.open()
    return client, stream


def test_events_that_come_in_one_read_reach_the_reader_as_one_piece() -> None:
    """500 events in one write: one item in the stream's queue per read of the socket, not one per
    event (each item is a trip through the reader; 12,500 of them for a long reply)."""
    items = 0

    async def main() -> bytes:
        nonlocal items
        server = await serve(500, None)
        client, stream = await completion(server)
        queue = stream._response.queue  # the answer's, filled by libcurl's callbacks
        put = queue.put_nowait

        def counted(item: object) -> None:
            nonlocal items
            items += 1
            put(item)

        queue.put_nowait = counted
        try:
            return b"".join([piece async for piece in stream])
        finally:
            await stream.aclose()
            await client.aclose()
            server.close()

    body = asyncio.run(main())
    assert body == EVENT * 501
    # One per read of the socket (a few for 40 KB) and the end; on the code before, 501.
    assert items <= 20, items


def test_once_steady_close_events_come_in_fewer_pieces_and_the_first_at_once() -> None:
    """After the first token is out the turn says the stream is steady: events a millisecond
    apart then reach it a few at a time (one piece per GATHER_S), while the first came alone."""

    async def main() -> list[tuple[float, bytes]]:
        server = await serve(40, 0.001)
        client, stream = await completion(server)
        pieces: list[tuple[float, bytes]] = []
        try:
            async for piece in stream:
                pieces.append((time.monotonic(), piece))
                stream.steady()
        finally:
            await stream.aclose()
            await client.aclose()
            server.close()
        return pieces

    pieces = asyncio.run(main())
    assert pieces[0][1] == EVENT  # not held back for the ones behind it
    assert b"".join(piece for _, piece in pieces) == EVENT * 41
    # 40 events over at least 40 ms, one piece per 4 ms at most: about 11; one per event without.
    assert len(pieces) - 1 <= 40 * 0.001 / GATHER_S + 6, len(pieces)


def test_once_steady_a_fast_stream_is_read_once_per_gather_not_once_per_event() -> None:
    """An upstream writing 3,000 events back to back, each in its own write (as DeepSeek and the
    simulator do): once the turn says the stream is steady and a few chunks came close together,
    its socket is read about once per GATHER_S, the events sent meanwhile in one go, instead of one
    or two events per read (each a trip through libcurl and the server's callbacks: half the CPU of
    a long reply)."""
    reads = 0
    held_at: tuple[float, int] | None = None  # when the first hold came, and the reads by then
    span = 0.0

    async def main() -> bytes:
        nonlocal reads, span
        server = await serve(3000, 0.0)
        client, stream = await completion(server)
        queue = stream._response.queue  # one item per read of the socket (StreamBody.flush)
        put = queue.put_nowait

        def counted(item: object) -> None:
            nonlocal reads
            reads += 1
            put(item)

        def seen(until: float) -> None:
            nonlocal held_at
            if held_at is None:
                held_at = (time.monotonic(), reads)

        queue.put_nowait = counted
        on_hold(stream, seen)
        try:
            pieces = await read_steady(stream)
            assert held_at is not None, f"never held ({reads} reads)"
            span = time.monotonic() - held_at[0]
            return b"".join(pieces)
        finally:
            await stream.aclose()
            await client.aclose()
            server.close()

    body = asyncio.run(main())
    assert body == EVENT * 3001
    assert held_at is not None
    # From the first hold on, about one read per GATHER_S (and the end); on the code before, one
    # read per one or two events: 1,501 in all, and never held.
    assert reads - held_at[1] <= span / GATHER_S + 5, (reads, held_at, span)
    assert reads < 1000, reads
