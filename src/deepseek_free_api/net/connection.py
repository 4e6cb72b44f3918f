"""uvicorn's HTTP/1.1 (h11) protocol, keeping the guard told which phase the connection is in.

The guard needs no HTTP parsing of its own: h11 already knows whether the peer is between
requests, sending headers, sending a body, or done. Each hook adds a comparison or two to
uvicorn's own work and reads the clock only when the phase changes.
"""

from __future__ import annotations

import asyncio
import enum
import time
from typing import TYPE_CHECKING, Any, ClassVar

import h11
import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol

if TYPE_CHECKING:
    from deepseek_free_api.net.guard import ConnectionGuard


class Phase(enum.Enum):
    """Where a connection is; the guard's deadline depends on it."""

    FRESH = "fresh"  # no byte of a request yet: its headers are due header_timeout_s after ``since``
    HEADERS = "headers"  # part of a request's headers received
    BODY = "body"  # headers done, body arriving
    BUSY = "busy"  # request received: the app answers (a stream may last minutes); no deadline
    IDLE = "idle"  # between requests; uvicorn's keep-alive timer (server.idle_timeout_s) closes it


# Connections without a request in progress: closed first when the cap is reached.
EVICTABLE = frozenset({Phase.FRESH, Phase.HEADERS, Phase.IDLE})


class GuardedH11Protocol(H11Protocol):
    """One client connection; ``guard`` is set on a subclass made per server (``bound_to``)."""

    guard: ClassVar[ConnectionGuard]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.phase = Phase.FRESH
        self.since = 0.0  # monotonic time the current deadline counts from
        self.body_bytes = 0  # received in Phase.BODY (framing included)

    @classmethod
    def bound_to(cls, guard: ConnectionGuard) -> type[GuardedH11Protocol]:
        """This protocol reporting to ``guard`` (uvicorn builds protocols from a class)."""
        return type(cls.__name__, (cls,), {"guard": guard})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.since = time.monotonic()
        self.guard.opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.closed(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        phase = self.phase
        if phase is Phase.BODY:
            self.body_bytes += len(data)
        elif phase is Phase.IDLE:
            self.phase, self.since = Phase.HEADERS, time.monotonic()
        elif phase is Phase.FRESH:
            self.phase = Phase.HEADERS  # still due header_timeout_s after connecting
        super().data_received(data)
        self._follow_request()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start a pipelined request
        self._follow_request()

    def _follow_request(self) -> None:
        """Take the phase from h11's view of the client (after uvicorn handled its events)."""
        state = self.conn.their_state
        if state is h11.IDLE:
            if self.phase is Phase.BUSY:  # its response is complete: waiting for the next request
                self.phase = Phase.IDLE
            elif self.phase is Phase.BODY:  # the rest of a body answered early (413, 401) drained;
                # uvicorn's keep-alive timer was disarmed by that data: the next request is due
                self.phase, self.since = Phase.FRESH, time.monotonic()
        elif state is h11.SEND_BODY:
            if self.phase is not Phase.BODY:
                self.phase, self.since, self.body_bytes = Phase.BODY, time.monotonic(), 0
        else:  # DONE, MUST_CLOSE, CLOSED, ERROR: nothing more to wait for from the client
            self.phase = Phase.BUSY

    @property
    def reading_paused(self) -> bool:
        """uvicorn stopped reading because the app has not taken the body yet: not the client's fault."""
        return self.flow.read_paused

    def close(self, reason: str | None) -> None:
        """Close now; with a ``reason``, first answer 408 if no response has started."""
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if reason is not None and (cycle is None or not cycle.response_started):
            self.transport.write(_timeout_response(reason))
        if cycle is not None:
            cycle.disconnected = True  # the app's further sends are dropped, its receive ends
            cycle.message_event.set()
        self.transport.close()


def _timeout_response(reason: str) -> bytes:
    """A 408 written below the app: the error body the OpenAI dialect uses."""
    body = orjson.dumps(
        {"error": {"message": reason, "type": "invalid_request_error", "code": "request_timeout"}}
    )
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body
