"""uvicorn's httptools protocol (llhttp, in C), keeping the guard told the connection's phase.

Used when httptools is installed (``server.http_parser = "auto"``): it parses a request with a
fraction of h11's CPU. Where the two differ, this keeps what the server does with h11:

- a request's headers may not take more than h11's 16 KiB while incomplete (llhttp has no
  limit of its own): beyond that, 400 and closed, as h11 answers;
- stricter than h11 (400 where h11 passes the request on; RFC 9110/9112 allow both): both
  ``Content-Length`` and ``Transfer-Encoding``, folded header lines, bare LF line ends, a
  control character such as DEL in a header value (a bearer with one: 400 here, 401 from the
  app with h11), methods llhttp does not know and CONNECT, versions other than 1.0 and 1.1, a
  ``PRI *`` (HTTP/2) preface;
- a body answered early (401, 413) and then drained lets the next request's header clock start,
  where uvicorn would leave the connection open without a timer;
- what h11 refuses and llhttp lets through is refused the same way (400): a ``Transfer-Encoding``
  other than ``chunked``, an HTTP/1.1 request without exactly one ``Host``, HTTP/0.9;
- after an ``Upgrade`` request (no WebSocket here) llhttp parses nothing more on the connection:
  it is closed once that response is out, where h11 would keep it alive.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from deepseek_free_api.flag import Flag
from deepseek_free_api.net.connection import GuardedConnection, HeadWithBody, Phase

# h11's bound on an incomplete request head (DEFAULT_MAX_INCOMPLETE_EVENT_SIZE in h11 0.16, uvicorn's
# default); written out, not imported, so that h11 stays unloaded.
MAX_INCOMPLETE_HEAD = 16 * 1024
_INVALID = "Invalid HTTP request received."  # uvicorn's words for a request it cannot parse


class GuardedHttpToolsProtocol(GuardedConnection, HttpToolsProtocol):
    """One client connection parsed by httptools."""

    __slots__ = ("in_head", "head_bytes", "_pipeline")  # see GuardedConnection's

    # uvicorn makes a deque per connection for pipelined requests (624 bytes); clients hardly ever
    # pipeline, so this one is made only when a request comes before the last one was answered.
    @property
    def pipeline(self) -> deque[tuple[Any, Any]]:
        """The requests waiting behind the one being answered (uvicorn's, first last)."""
        queue = self._pipeline
        return _NO_PIPELINE if queue is None else queue

    @pipeline.setter
    def pipeline(self, queue: deque[tuple[Any, Any]]) -> None:
        self._pipeline = queue or None  # uvicorn's empty one at start: dropped

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_guard()
        self.in_head = False  # between a request's first byte and the end of its headers
        self.head_bytes = 0  # received while in_head (the last chunk may run past the head)

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.closed(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._on_data(data)
        if self.in_head:
            self.head_bytes += len(data)
        super().data_received(data)
        if self.in_head and self.head_bytes > MAX_INCOMPLETE_HEAD and not self.transport.is_closing():
            self.logger.warning(_INVALID)
            self.send_400_response(_INVALID)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # This chunk is counted from its start: at most one read more than the head itself.
        self.in_head, self.head_bytes = True, 0

    def on_headers_complete(self) -> None:
        self.in_head = False
        problem = _refused_by_h11(self.parser.get_http_version(), self.headers)
        if problem is not None:  # raised in a callback: uvicorn answers 400 and closes
            raise httptools.HttpParserError(problem)
        before = self.cycle
        if before is not None and not before.response_complete and self._pipeline is None:
            self._pipeline = deque()  # this request will wait in it (uvicorn's pipelining)
        super().on_headers_complete()
        if self.cycle is not before:  # a new request: nothing has waited on its event yet
            self.cycle.message_event = Flag()  # see GuardedConnection._start_guard
            self.cycle.transport = HeadWithBody(self.transport)
        self.phase, self.since, self.body_bytes = Phase.BODY, time.monotonic(), 0

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self.cycle.response_complete:  # the rest of a body answered early (413, 401) drained;
            # uvicorn's keep-alive timer was disarmed by that data: the next request is due
            self.phase, self.since = Phase.FRESH, time.monotonic()
        else:
            self.phase = Phase.BUSY

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start a pipelined request
        if self.phase is Phase.BUSY and self.cycle.response_complete:  # none left to answer
            self.phase = Phase.IDLE

    def _unsupported_upgrade_warning(self) -> None:
        super()._unsupported_upgrade_warning()
        # llhttp stops parsing after an upgrade: nothing more can be read from this connection.
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False
        else:
            self.transport.close()


class _NoPipeline(deque[tuple[Any, Any]]):
    """The pipeline of a connection that never pipelined: empty, and never added to."""

    def appendleft(self, item: tuple[Any, Any]) -> None:
        raise RuntimeError("a pipelined request needs the connection's own deque")


_NO_PIPELINE = _NoPipeline()


def _refused_by_h11(version: str, headers: list[tuple[bytes, bytes]]) -> str | None:
    """Why h11 would refuse a request head that llhttp accepted, or None."""
    if version not in ("1.0", "1.1"):
        return f"HTTP/{version} is not served"
    hosts = 0
    for name, value in headers:  # names are lower-cased by uvicorn
        if name == b"host":
            hosts += 1
        elif name == b"transfer-encoding" and value.strip().lower() != b"chunked":
            return "only Transfer-Encoding: chunked is supported"
    if hosts > 1 or (hosts == 0 and version == "1.1"):
        return "an HTTP/1.1 request needs exactly one Host header"
    return None
