"""Over HTTPS the pre-configured handles speak HTTP/2 as curl_cffi's session does, frame for frame.

A TLS listener on ``https://localhost`` (a certificate made for the test, its CA trusted through
``REQUESTS_CA_BUNDLE`` as curl_cffi reads it) offers h2 and records the frames of the first request on
each connection: SETTINGS, WINDOW_UPDATE, PRIORITY, the HEADERS block (HPACK-coded, on a new
connection so from the same empty table) and the body. They make the HTTP/2 fingerprint a WAF
reads (settings, window, pseudo-header order), and carry the headers themselves. The calls of
two accounts (each on its own connection) go over one handle.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
from dataclasses import fields
from pathlib import Path

import pytest

from deepseek_free_api.config import PersonaSettings
from deepseek_free_api.errors import UpstreamError
from deepseek_free_api.upstream.client import DeepSeekClient
from deepseek_free_api.upstream.persona import Persona
from deepseek_free_api.upstream.wire import Identity

from ..support.session_client import SessionClient

ALPHA = Identity(token="tok-alpha", device_id="device-alpha")
BETA = Identity(token="tok-beta", device_id="device-beta")
PERSONA = Persona(**{f.name: getattr(PersonaSettings(), f.name) for f in fields(Persona)})
SETTINGS, END_STREAM, ACK = 4, 0x1, 0x1
Frame = tuple[int, int, int, bytes]  # type, flags, stream, payload


async def _frames(reader: asyncio.StreamReader) -> list[Frame]:
    """The client's frames up to the end of its first request (its settings' ACK left out)."""
    assert await reader.readexactly(24) == b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    frames: list[Frame] = []
    while True:
        head = await reader.readexactly(9)
        size, kind, flags, stream = struct.unpack(">I", b"\0" + head[:3])[0], head[3], head[4], head[5:]
        payload = await reader.readexactly(size)
        if not (kind == SETTINGS and flags & ACK):  # when it comes depends on our own settings
            frames.append((kind, flags, struct.unpack(">I", stream)[0], payload))
        if frames and frames[-1][2] and flags & END_STREAM:
            return frames


async def both(certificate: tuple[Path, Path, Path]) -> list[list[list[Frame]]]:
    """For the session, then the handles: the frames of each connection of two calls of two
    accounts over one handle, on one port (the same :authority and Origin)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate[1:])
    context.set_alpn_protocols(["h2"])
    seen: list[list[Frame]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(b"\0\0\0\x04\0\0\0\0\0")  # our SETTINGS: none
            seen.append(await asyncio.wait_for(_frames(reader), 10))
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    url = f"https://localhost:{server.sockets[0].getsockname()[1]}"
    runs = []
    try:
        for make in (SessionClient, DeepSeekClient):
            client = make(url, PERSONA, max_transfers=1, connect_timeout=5, request_timeout=5)
            try:
                for call in (client.create_session(ALPHA), client.current_user(BETA)):  # POST, then GET
                    with pytest.raises(UpstreamError):  # no answer: the connection closes
                        await call
            finally:
                await client.aclose()
            runs.append(seen[:])
            seen.clear()
    finally:
        server.close()
        await server.wait_closed()
    return runs


def test_the_http2_frames_of_a_post_and_a_get_on_one_handle_are_the_sessions(
    certificate: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))  # read first, by both paths
    old, new = asyncio.run(both(certificate))
    assert len(old) == 2 and [frame[0] for frame in old[0]][:2] == [SETTINGS, 8]  # then WINDOW_UPDATE
    assert new == old
