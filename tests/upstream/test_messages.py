"""Network failures on the way to DeepSeek, as a caller reads them: our words, never curl's.

Each case is a real socket: nothing listening, a peer that hangs up without answering, one that
cuts an event stream short and one that cuts an error page short. curl's text ("curl: (18) …
See https://curl.se/…") stays in the DEBUG log for the operator.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import fields

import pytest

from deepseek_free_api.background import free_port
from deepseek_free_api.config import PersonaSettings
from deepseek_free_api.errors import UpstreamServerError, UpstreamUnreachableError
from deepseek_free_api.upstream.client import CompletionParams, DeepSeekClient, Identity
from deepseek_free_api.upstream.persona import Persona

ALPHA = Identity(token="tok-alpha", device_id="device-alpha")
PERSONA = Persona(**{f.name: getattr(PersonaSettings(), f.name) for f in fields(Persona)})

Reply = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.close()


async def _cut_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 4096\r\n\r\n"
    writer.write(head + b'event: ready\ndata: {"request_message_id":1,"response_message_id":2}\n\n')
    await writer.drain()
    writer.close()


async def _cut_error_page(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: 4096\r\n\r\n<html>")
    await writer.drain()
    writer.close()


def _failure(reply: Reply | None, call: Callable[[DeepSeekClient], Awaitable[object]]) -> str:
    """The message of the error ``call`` raises against a peer answering ``reply`` (none: unreachable)."""

    async def main() -> str:
        server = await asyncio.start_server(reply, "127.0.0.1", 0) if reply else None
        port = server.sockets[0].getsockname()[1] if server else free_port()
        client = DeepSeekClient(f"http://127.0.0.1:{port}", PERSONA, connect_timeout=5, request_timeout=5)
        try:
            with pytest.raises(UpstreamServerError if reply else UpstreamUnreachableError) as caught:
                await call(client)
            return caught.value.message
        finally:
            await client.aclose()
            if server:
                server.close()

    return asyncio.run(main())


async def _current_user(client: DeepSeekClient) -> object:
    return await client.current_user(ALPHA)


async def _read_stream(client: DeepSeekClient) -> object:
    stream = await client.open_completion(ALPHA, CompletionParams(session_id="s", prompt="hi"), "pow")
    try:
        return [chunk async for chunk in stream]
    finally:
        await stream.aclose()


@pytest.mark.parametrize(
    ("reply", "call", "words"),
    [
        (None, _current_user, "could not reach DeepSeek (/api/v0/users/current): the connection was refused"),
        (_hang_up, _current_user, "the connection closed without any answer"),
        (_cut_stream, _read_stream, "the stream from DeepSeek broke: the connection closed before the whole"),
        (
            _cut_error_page,
            _read_stream,
            "could not read DeepSeek's HTTP 502 answer to /api/v0/chat/completion",
        ),
    ],
    ids=["refused", "hung-up", "cut-stream", "cut-error-page"],
)
def test_network_failures_are_told_in_our_words(
    reply: Reply | None,
    call: Callable[[DeepSeekClient], Awaitable[object]],
    words: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="deepseek_free_api.upstream.client"):
        message = _failure(reply, call)
    assert words in message
    assert "curl" not in message.lower() and "https://" not in message
    # The technical detail stays available to the operator, at DEBUG only.
    details = [r for r in caplog.records if "curl code" in r.getMessage()]
    assert details and all(r.levelno == logging.DEBUG for r in details)
