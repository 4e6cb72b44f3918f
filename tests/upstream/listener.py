"""A raw HTTP/1.1 listener for the upstream tests: notes each request's bytes, answers as DeepSeek.

Runs on the test's event loop over a real socket. Each request is kept as it came (request line,
header lines, body) with the client's port. Answers: a JSON envelope for every path, an event
stream for ``chat/completion``; a client without a cookie gets one (``WAF``, numbered per device)
as DeepSeek's edge gives one, so later calls carry a Cookie header. ``stall`` makes a path answer
nothing (``"silent"``) or the head of a stream and then nothing (``"stream"``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

import orjson

COMPLETION = "/api/v0/chat/completion"
CHALLENGE = {
    "algorithm": "DeepSeekHashV1",
    "challenge": "c" * 64,
    "salt": "s",
    "difficulty": 1000,
    "expire_at": 1,
    "signature": "x",
    "target_path": COMPLETION,
}
_BIZ = {
    "/api/v0/chat_session/create": {"chat_session": {"id": "session-1"}},
    "/api/v0/chat/create_pow_challenge": {"challenge": CHALLENGE},
    "/api/v0/users/login": {"user": {"token": "token-new"}},
    "/api/v0/file/upload_file": {"id": "file-1", "status": "PENDING"},
    "/api/v0/file/fetch_files": {"files": [{"id": "file-1", "status": "SUCCESS"}]},
}


# The head of an event stream answer sent in HTTP chunks, as DeepSeek sends it.
STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n"
)


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request's head and body (its Content-Length's worth), for the raw servers of the tests."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    return head + await reader.readexactly(length)


@dataclass
class Seen:
    """One request as the listener read it."""

    port: int
    raw: bytes

    @property
    def path(self) -> str:
        return self.raw.split(b" ", 2)[1].decode().split("?", 1)[0]


@dataclass
class Listener:
    """``async with Listener() as listener``: serves ``listener.url`` until the block ends."""

    stall: dict[str, Literal["silent", "stream"]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    _cookies: Counter[str] = field(default_factory=Counter)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def forget(self) -> None:
        """Start again: no request seen, no cookie given."""
        self.seen.clear()
        self._cookies.clear()

    async def __aenter__(self) -> Listener:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        port = writer.get_extra_info("peername")[1]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                fields = dict(line.split(b": ", 1) for line in lines[1:] if b": " in line)
                body = await reader.readexactly(int(fields.get(b"Content-Length", b"0")))
                seen = Seen(port, head + body)
                self.seen.append(seen)
                stall = self.stall.get(seen.path)
                if stall == "silent":
                    await asyncio.Event().wait()  # until the client gives up and the block ends
                writer.write(self._answer(seen.path, fields, stall == "stream"))
                await writer.drain()
                if stall == "stream":
                    await asyncio.Event().wait()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    def _answer(self, path: str, fields: dict[bytes, bytes], endless: bool) -> bytes:
        head = [b"HTTP/1.1 200 OK"]
        if b"Cookie" not in fields:
            device = fields.get(b"X-Device-Id", b"none").decode()
            self._cookies[device] += 1
            head.append(f"Set-Cookie: WAF={device}-{self._cookies[device]}; Path=/; HttpOnly".encode())
        if path == COMPLETION:
            body = b'data: {"v": "Qx7 hello"}\n\nevent: close\ndata: {"click_behavior": "none"}\n\n'
            head.append(b"Content-Type: text/event-stream; charset=utf-8")
            if endless:
                return b"\r\n".join([*head, b"Transfer-Encoding: chunked", b"", b""]) + b"%x\r\n%s\r\n" % (
                    len(body[:24]),
                    body[:24],
                )
        else:
            data = {"biz_code": 0, "biz_msg": "", "biz_data": _BIZ.get(path, {})}
            envelope = {"code": 0, "msg": "", "data": data}
            body = orjson.dumps(envelope)
            head.append(b"Content-Type: application/json")
        return b"\r\n".join([*head, b"Content-Length: %d" % len(body), b"", b""]) + body
