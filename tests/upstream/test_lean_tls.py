"""The pre-configured handles show DeepSeek's WAF the TLS fingerprint curl_cffi's session shows.

A TCP listener on ``https://localhost`` reads the first TLS record each connection sends (the
ClientHello) and closes. The fingerprint compared: the cipher suites in order, the set of
extensions (Chrome permutes their order), ALPN, supported groups, signature algorithms, the key
share groups, supported versions, certificate compression; GREASE values are left out, and so are
the random, session id and key share bytes, which change on every connection, and the padding
extension (21), which BoringSSL adds only when the hello's length falls in a window (its ECH
GREASE has a random length: curl_cffi's session itself sends it on some connections only).
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, fields

import pytest

from deepseek_free_api.config import PersonaSettings
from deepseek_free_api.errors import UpstreamError
from deepseek_free_api.upstream.client import DeepSeekClient
from deepseek_free_api.upstream.persona import Persona
from deepseek_free_api.upstream.wire import Identity

from ..support.session_client import SessionClient

PADDING = 21
ALPHA = Identity(token="tok-alpha", device_id="device-alpha")
BETA = Identity(token="tok-beta", device_id="device-beta")


@dataclass(frozen=True)
class Fingerprint:
    """What a ClientHello says about the client, less what changes per connection."""

    ciphers: tuple[int, ...]
    extensions: frozenset[int]
    alpn: tuple[bytes, ...]
    groups: tuple[int, ...]
    signatures: tuple[int, ...]
    key_shares: tuple[int, ...]
    versions: tuple[int, ...]
    compression: tuple[int, ...]


def _grease(value: int) -> bool:
    return value & 0x0F0F == 0x0A0A and value >> 8 == value & 0xFF


def _u16s(data: bytes, skip: int) -> tuple[int, ...]:
    values = struct.unpack(f">{(len(data) - skip) // 2}H", data[skip:])
    return tuple(v for v in values if not _grease(v))


def fingerprint(record: bytes) -> Fingerprint:
    """The fingerprint of the ClientHello in one TLS record."""
    assert record[0] == 0x16 and record[5] == 0x01, "not a ClientHello"
    at = 5 + 4 + 2 + 32  # record header, handshake header, version, random
    at += 1 + record[at]  # session id
    (length,) = struct.unpack(">H", record[at : at + 2])
    ciphers = _u16s(record[at + 2 : at + 2 + length], 0)
    at += 2 + length
    at += 1 + record[at]  # compression methods
    at += 2
    extensions: dict[int, bytes] = {}
    while at < len(record):
        kind, size = struct.unpack(">HH", record[at : at + 4])
        extensions[kind] = record[at + 4 : at + 4 + size]
        at += 4 + size
    alpn, data = [], extensions.get(16, b"\0\0")[2:]
    while data:
        alpn.append(data[1 : 1 + data[0]])
        data = data[1 + data[0] :]
    shares, data = [], extensions.get(51, b"\0\0")[2:]
    while data:
        group, size = struct.unpack(">HH", data[:4])
        shares.append(group)
        data = data[4 + size :]
    return Fingerprint(
        ciphers=ciphers,
        extensions=frozenset(kind for kind in extensions if not _grease(kind) and kind != PADDING),
        alpn=tuple(alpn),
        groups=_u16s(extensions.get(10, b"\0\0"), 2),
        signatures=_u16s(extensions.get(13, b"\0\0"), 2),
        key_shares=tuple(g for g in shares if not _grease(g)),
        versions=_u16s(extensions.get(43, b"\0"), 1),
        compression=_u16s(extensions.get(27, b"\0"), 1),
    )


async def hellos(make: type[DeepSeekClient], impersonate: str) -> list[bytes]:
    """The first TLS record of each connection two calls (two accounts, one handle) opened."""
    records: list[bytes] = []

    async def first_record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            header = await reader.readexactly(5)
            records.append(header + await reader.readexactly(struct.unpack(">H", header[3:])[0]))
        finally:
            writer.close()

    server = await asyncio.start_server(first_record, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = PersonaSettings(impersonate=impersonate)
    persona = Persona(**{f.name: getattr(settings, f.name) for f in fields(Persona)})
    client = make(f"https://localhost:{port}", persona, max_transfers=1, connect_timeout=5, request_timeout=5)
    try:
        for identity in (ALPHA, BETA):
            with pytest.raises(UpstreamError):  # no TLS server: the handshake fails
                await client.create_session(identity)
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
    return records


@pytest.mark.parametrize("impersonate", ["chrome145", "chrome131_android"])
def test_the_client_hello_is_the_sessions_and_stays_so_on_a_reused_handle(impersonate: str) -> None:
    old = asyncio.run(hellos(SessionClient, impersonate))
    new = asyncio.run(hellos(DeepSeekClient, impersonate))
    assert len(old) == len(new) == 2
    expected = fingerprint(old[0])
    assert fingerprint(old[1]) == expected  # the comparison itself is stable between connections
    assert b"h2" in expected.alpn and len(expected.ciphers) > 10 and expected.groups
    assert [fingerprint(record) for record in new] == [expected, expected]
