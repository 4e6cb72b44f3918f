"""A stream whose reader stops holds at most ``upstream.stream_buffer_bytes`` in the server.

The reader of a stream is the turn, which waits while its client does not read (the channel to
the response writer is bounded). An upstream over a real socket sends a long event stream as fast
as the network allows; the reader takes the first chunk and then nothing for longer than the idle
timeout and curl's low-speed limit. Meanwhile the bytes queued in the server for that stream must
stay near the bound (the transfer pauses and the upstream's bytes wait in the network); once the
reader goes on, every byte arrives in order, and no timeout fired for the reader's slowness.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, fields

import pytest

from deepseek_free_api.config import PersonaSettings
from deepseek_free_api.upstream.client import CompletionParams, DeepSeekClient
from deepseek_free_api.upstream.persona import Persona
from deepseek_free_api.upstream.stream import UpstreamStream

from .held import ALPHA, closed_while_held, next_stream
from .listener import STREAM_HEAD, read_request

PERSONA = Persona(**{f.name: getattr(PersonaSettings(), f.name) for f in fields(Persona)})
BOUND = 64 * 1024
EVENTS = 32 * 1024  # of 1 KiB each: more than the kernel's socket buffers hold between the two
STALL_S = 3.5  # longer than the idle timeout (1 s) and curl's low-speed time (2 s) set below


def event(number: int) -> bytes:
    """The ``number``th event: numbered, so that a lost or reordered byte shows."""
    head = b'data: {"v":"%08d ' % number
    return head + b"w" * (1024 - len(head) - 5) + b'"}\n\n'


BODY = b"".join(event(n) for n in range(EVENTS))


@dataclass
class Upstream:
    """Streams ``BODY`` in HTTP chunks of 64 events, as fast as the client takes it."""

    sent: int = 0

    async def answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(STREAM_HEAD)
        try:
            for start in range(0, len(BODY), 64 * 1024):
                piece = BODY[start : start + 64 * 1024]
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.sent += len(piece)
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


def queued(stream: UpstreamStream) -> int:
    """The bytes of the stream waiting in the server for its reader."""
    return sum(len(item) for item in stream._response.queue._queue if isinstance(item, bytes))


async def opened(
    upstream: Upstream, **options: float
) -> tuple[asyncio.Server, DeepSeekClient, UpstreamStream]:
    server = await asyncio.start_server(upstream.answer, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    client = DeepSeekClient(url, PERSONA, stream_buffer_bytes=BOUND, **options)  # type: ignore[arg-type]
    stream = client.completion(ALPHA, CompletionParams("session-1", "hello"), "pow")
    await stream.open()
    return server, client, stream


@pytest.mark.parametrize("steady", [False, True], ids=["before-first-token", "steady"])
def test_a_reader_that_stops_holds_the_bound_and_then_gets_every_byte_in_order(steady: bool) -> None:
    """Also once steady, when the reader holds the transfer after each chunk (``hold``): a hold and
    the bound's pause together still go on, once each allows it."""

    async def main() -> tuple[list[int], int, bytes, float]:
        upstream = Upstream()
        # Idle timeout 1 s; curl's low-speed backstop is connect + idle = 2 s.
        server, client, stream = await opened(
            upstream, connect_timeout=1.0, idle_timeout=1.0, max_transfers=1
        )
        try:
            chunks = aiter(stream)
            received = [await anext(chunks)]
            if steady:
                stream.steady()
                received += [await anext(chunks), await anext(chunks)]  # the second one held
            samples: list[int] = []
            until = time.monotonic() + STALL_S
            while time.monotonic() < until:  # the reader waits for its client
                await asyncio.sleep(0.1)
                samples.append(queued(stream))
            sent_while_stalled = upstream.sent
            began = time.monotonic()
            received += [chunk async for chunk in chunks]
            return samples, sent_while_stalled, b"".join(received), time.monotonic() - began
        finally:
            await stream.aclose()
            await client.aclose()
            server.close()

    samples, sent_while_stalled, body, rest_s = asyncio.run(asyncio.wait_for(main(), 60))
    # One chunk of libcurl's (at most 16 KiB) may pass the bound; the code before held all it got.
    assert max(samples) <= BOUND + 64 * 1024, f"{max(samples)} bytes queued for a {BOUND}-byte bound"
    assert sent_while_stalled < len(BODY), "the upstream sent everything while nobody read"
    assert len(body) == len(BODY) and body == BODY, "bytes lost or out of order"
    assert rest_s < 20, f"the rest took {rest_s:.1f} s once the reader went on"


def test_a_paused_stream_closed_leaves_its_handle_fit_for_the_next_stream() -> None:
    """One handle: the stream after one closed while paused flows in full (not paused, not stuck)."""

    async def main() -> bytes:
        upstream = Upstream()
        server, client, stream = await opened(upstream, max_transfers=1)
        try:
            chunks = aiter(stream)
            await anext(chunks)
            for _ in range(50):  # until the transfer has paused at the bound
                await asyncio.sleep(0.05)
                if queued(stream) >= BOUND:
                    break
            assert stream._response.taken.__self__.paused
            await stream.aclose()
            return await next_stream(client)
        finally:
            await client.aclose()
            server.close()

    assert asyncio.run(asyncio.wait_for(main(), 60)) == BODY


def test_a_held_stream_closed_leaves_its_handle_fit_for_the_next_stream() -> None:
    """One handle: a fast stream closed while its transfer is held (reading nothing for a moment,
    ``StreamBody.hold``) leaves the handle to the next stream, which flows in full; the hold's
    timer, firing after the close, touches nothing."""

    async def main() -> bytes:
        upstream = Upstream()
        server, client, stream = await opened(upstream, max_transfers=1)
        try:
            return await closed_while_held(client, stream, 50)
        finally:
            await client.aclose()
            server.close()

    assert asyncio.run(asyncio.wait_for(main(), 60)) == BODY
