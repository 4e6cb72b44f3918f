"""A non-streamed answer from DeepSeek is read up to ``upstream.max_answer_bytes``, no further.

A broken or hostile upstream (or a proxy in between) answers every call with an endless body, over
a real socket. The call must fail at once with a protocol error naming the setting, the transfer
must end (the server sees its connection closed), and the client's memory must not grow with what
the upstream sends. The body here stops after ``CAP`` bytes and then stalls, so that the code
before the bound (which buffered it all and waited for the end) fails the test in bounded time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, fields

import orjson
import pytest

from deepseek_free_api.config import PersonaSettings, load_settings
from deepseek_free_api.errors import UpstreamProtocolError
from deepseek_free_api.upstream.client import DeepSeekClient
from deepseek_free_api.upstream.persona import Persona
from deepseek_free_api.upstream.wire import CompletionParams, Identity

from .listener import read_request

PERSONA = Persona(**{f.name: getattr(PersonaSettings(), f.name) for f in fields(Persona)})
ALPHA = Identity(token="tok-alpha", device_id="device-alpha")
LIMIT = 1024 * 1024
CAP = 64 * 1024 * 1024  # what the hostile upstream sends at most before it stalls
PIECE = b"x" * (256 * 1024)


@dataclass
class Hostile:
    """Answers every request with HTTP 200 and a chunked body of ``CAP`` bytes that never ends."""

    content_type: bytes = b"application/json"
    sent: int = 0
    closed_at: float | None = None  # when the client hung up
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await read_request(reader)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: "
                + self.content_type
                + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            while self.sent < CAP:
                writer.write(b"%x\r\n%s\r\n" % (len(PIECE), PIECE))
                self.sent += len(PIECE)
                await writer.drain()
            await reader.read()  # stalled: the body never ends; returns when the client hangs up
            self.closed_at = time.monotonic()
        except (ConnectionError, asyncio.IncompleteReadError):
            self.closed_at = time.monotonic()
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        try:
            yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        finally:
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)


def hostile_call(
    call: Callable[[DeepSeekClient], Awaitable[object]], content_type: bytes
) -> tuple[str, float, int]:
    """Run ``call`` against the hostile upstream: its error, seconds taken, peak memory allocated."""

    async def main() -> tuple[str, float, int]:
        hostile = Hostile(content_type)
        async with hostile.running() as url:
            # As an operator sets it: the environment, read into the settings the server uses.
            env = {
                "DEEPSEEK_FREE_API_UPSTREAM_BASE_URL": url,
                "DEEPSEEK_FREE_API_UPSTREAM_MAX_ANSWER_BYTES": str(LIMIT),
            }
            settings = load_settings(env=env)
            client = DeepSeekClient.from_settings(settings)
            client._request_timeout = client._idle_timeout = 20.0  # what the code before the bound hit
            tracemalloc.start()
            began = time.monotonic()
            try:
                with pytest.raises(UpstreamProtocolError) as raised:
                    await call(client)
                took = time.monotonic() - began
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
                await client.aclose()
            # The transfer ended there: the upstream sees its connection closed, it is not drained.
            for _ in range(100):
                if hostile.closed_at is not None:
                    break
                await asyncio.sleep(0.05)
            assert hostile.closed_at is not None, "the client kept the hostile connection open"
            assert hostile.sent < CAP, "the whole body was read"
            return str(raised.value), took, peak

    return asyncio.run(asyncio.wait_for(main(), 60))


def test_an_endless_json_answer_is_cut_at_the_limit_without_buffering_it() -> None:
    async def create(client: DeepSeekClient) -> object:
        return await client.create_session(ALPHA)

    message, took, peak = hostile_call(create, b"application/json")
    assert "max_answer_bytes" in message and "/chat_session/create" in message
    assert took < 5, f"failed after {took:.1f} s"
    assert peak < 4 * LIMIT, f"{peak / 1e6:.1f} MB allocated for a {LIMIT}-byte limit"


def test_a_completion_refused_with_an_endless_body_is_cut_at_the_limit() -> None:
    """The body of an answer that is not an event stream is read to classify it: bounded too."""

    async def complete(client: DeepSeekClient) -> object:
        return await client.open_completion(ALPHA, CompletionParams("session-1", "hello"), "pow")

    message, took, peak = hostile_call(complete, b"text/html")
    assert "max_answer_bytes" in message and "/chat/completion" in message
    assert took < 5, f"failed after {took:.1f} s"
    assert peak < 4 * LIMIT, f"{peak / 1e6:.1f} MB allocated for a {LIMIT}-byte limit"


def test_an_answer_just_under_the_limit_is_read_whole() -> None:
    """The bound refuses only what passes it: a large but legal answer still works."""
    padding = "p" * (LIMIT - 200)
    envelope = {
        "code": 0,
        "msg": "",
        "data": {"biz_code": 0, "biz_data": {"chat_session": {"id": "s-1"}, "pad": padding}},
    }
    body = orjson.dumps(envelope)
    assert len(body) <= LIMIT

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
            + body
        )
        await writer.drain()
        writer.close()

    async def main() -> str:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        client = DeepSeekClient(
            f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", PERSONA, max_answer_bytes=LIMIT
        )
        try:
            return await client.create_session(ALPHA)
        finally:
            await client.aclose()
            server.close()

    assert asyncio.run(asyncio.wait_for(main(), 30)) == "s-1"
