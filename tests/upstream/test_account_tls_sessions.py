"""No account resumes another account's TLS session.

A TLS 1.3 server hands its client session tickets; a client that comes back offers one (the
``pre_shared_key`` extension of its ClientHello) to skip the full handshake. A ticket is as good
as a name: DeepSeek's edge sees which connections resumed which. libcurl keeps tickets in the
multi handle that every account's transfers share unless a share says otherwise, so beta's
ClientHello offered the ticket alpha had been given. Here an HTTPS server (a self-signed
certificate for localhost, ``tests/support/tls``, trusted through ``REQUESTS_CA_BUNDLE``) closes
every connection after one answer, so each call makes a new one, and a TCP front records each
ClientHello's extensions.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
from dataclasses import fields
from pathlib import Path

import orjson
import pytest

from deepseek_free_api.config import PersonaSettings
from deepseek_free_api.upstream.client import DeepSeekClient
from deepseek_free_api.upstream.persona import Persona
from deepseek_free_api.upstream.wire import Identity

TLS = Path(__file__).resolve().parents[1] / "support" / "tls"
PRE_SHARED_KEY = 41  # the extension that offers a ticket (RFC 8446 §4.2.11)
ANSWER = orjson.dumps({"code": 0, "msg": "", "data": {"biz_code": 0, "biz_msg": "", "biz_data": {"id": "u"}}})


def extensions(hello: bytes) -> set[int]:
    """The extension types of a ClientHello record (record header 5, handshake header 4 bytes)."""
    at = 5 + 4 + 2 + 32  # then legacy version and random
    at += 1 + hello[at]  # session id
    at += 2 + struct.unpack(">H", hello[at : at + 2])[0]  # cipher suites
    at += 1 + hello[at]  # compression methods
    end = at + 2 + struct.unpack(">H", hello[at : at + 2])[0]
    at += 2
    found = set()
    while at + 4 <= end:
        kind, length = struct.unpack(">HH", hello[at : at + 4])
        found.add(kind)
        at += 4 + length
    return found


async def serve(hellos: list[bytes]) -> tuple[asyncio.Server, asyncio.Server]:
    """The HTTPS server and the TCP front that records each connection's first bytes."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(TLS / "cert.pem", TLS / "key.pem")

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readline() not in (b"", b"\r\n"):
                pass
            head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(ANSWER)}\r\n"
            writer.write(head.encode() + b"Connection: close\r\n\r\n" + ANSWER)
            await writer.drain()
        finally:
            writer.close()

    tls = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    tls_port = tls.sockets[0].getsockname()[1]

    async def front(client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        server_in, server_out = await asyncio.open_connection("127.0.0.1", tls_port)
        first = await client_in.read(65536)
        hellos.append(first)
        server_out.write(first)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pump(client_in, server_out), pump(server_in, client_out))

    return tls, await asyncio.start_server(front, "127.0.0.1", 0)


def test_an_account_never_offers_a_ticket_another_account_was_given(monkeypatch: pytest.MonkeyPatch) -> None:
    persona = Persona(**{f.name: getattr(PersonaSettings(), f.name) for f in fields(Persona)})
    alpha = Identity(token="tok-alpha", device_id="device-alpha")
    beta = Identity(token="tok-beta", device_id="device-beta")
    hellos: list[bytes] = []
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # trusted as curl_cffi trusts one
        monkeypatch.setenv(name, str(TLS / "cert.pem"))

    async def calls() -> None:
        tls, front = await serve(hellos)
        port = front.sockets[0].getsockname()[1]
        client = DeepSeekClient(f"https://localhost:{port}", persona)
        try:
            for identity in (alpha, alpha, beta, beta):
                await client.current_user(identity)
        finally:
            await client.aclose()
            front.close()
            tls.close()

    asyncio.run(calls())
    offered = [PRE_SHARED_KEY in extensions(hello) for hello in hellos]
    # alpha's second connection resumes alpha's session (so the test sees tickets at all); beta's
    # first connection offers nothing: on f179a6a it offered the ticket alpha had been given.
    assert offered == [False, True, False, True], offered
