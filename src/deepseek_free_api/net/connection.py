"""What the guard needs of a connection, whichever of uvicorn's HTTP/1.1 protocols it runs.

The guard needs no HTTP parsing of its own: the parser (h11 in ``h11_connection``, httptools in
``httptools_connection``) already knows whether the peer is between requests, sending headers,
sending a body, or done. Each hook adds a comparison or two to uvicorn's own work and reads the
clock only when the phase changes.
"""

from __future__ import annotations

import asyncio
import enum
import time
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import orjson

from deepseek_free_api.flag import Flag

if TYPE_CHECKING:
    from uvicorn.protocols.http.flow_control import FlowControl

    from deepseek_free_api.net.guard import ConnectionGuard

_Self = TypeVar("_Self", bound="GuardedConnection")


class Phase(enum.Enum):
    """Where a connection is; the guard's deadline depends on it."""

    FRESH = "fresh"  # no byte of a request yet: its headers are due header_timeout_s after ``since``
    HEADERS = "headers"  # part of a request's headers received
    BODY = "body"  # headers done, body arriving
    BUSY = "busy"  # request received: the app answers (a stream may last minutes); no deadline
    IDLE = "idle"  # between requests; uvicorn's keep-alive timer (server.idle_timeout_s) closes it


# Connections without a request in progress: closed first when the cap is reached.
EVICTABLE = frozenset({Phase.FRESH, Phase.HEADERS, Phase.IDLE})


class GuardedConnection:
    """What the guard reads and does on a connection, whichever parser uvicorn runs.

    Mixed into a uvicorn protocol class, before it; ``guard`` is set on a subclass made per server
    (``bound_to``).
    """

    # Slots, not the instance dict: uvicorn's protocol already sets ~28 attributes, and CPython's
    # key-shared instance dicts take 30 at most; past that each connection's dict was rebuilt
    # unshared (~1.6 KB per connection, seen 2026-12 with Python 3.11).
    __slots__ = ("phase", "since", "body_bytes")

    guard: ClassVar[ConnectionGuard]
    phase: Phase
    since: float  # monotonic time the current deadline counts from
    body_bytes: int  # received in Phase.BODY (framing included)
    # uvicorn's, set by its protocol:
    transport: asyncio.Transport
    flow: FlowControl
    client: tuple[str, int] | None
    cycle: Any  # the request in progress (uvicorn's RequestResponseCycle), or None

    @classmethod
    def bound_to(cls: type[_Self], guard: ConnectionGuard) -> type[_Self]:
        """This protocol reporting to ``guard`` (uvicorn builds protocols from a class)."""
        return type(cls.__name__, (cls,), {"guard": guard})

    def _start_guard(self) -> None:
        # uvicorn's write-pause event (pinned 0.54: FlowControl._is_writable_event, made set) as a
        # Flag: the same waits, without asyncio.Event's 624-byte deque per connection.
        self.flow._is_writable_event = Flag(True)
        self.phase = Phase.FRESH
        self.since = time.monotonic()
        self.body_bytes = 0
        self.guard.opened(self)

    def _on_data(self, data: bytes) -> None:
        """Before the parser sees ``data``: a request's first bytes start the header clock."""
        phase = self.phase
        if phase is Phase.BODY:
            self.body_bytes += len(data)
        elif phase is Phase.IDLE:
            self.phase, self.since = Phase.HEADERS, time.monotonic()
        elif phase is Phase.FRESH:
            self.phase = Phase.HEADERS  # still due header_timeout_s after connecting

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
            self.transport.write(timeout_response(reason))
        if cycle is not None:
            cycle.disconnected = True  # the app's further sends are dropped, its receive ends
            cycle.message_event.set()
        self.transport.close()


# A first body this large goes in a write of its own: joining would copy it for a saved segment.
JOIN_MAX = 64 * 1024


class HeadWithBody:
    """The transport as a request's response sees it: its head goes out with its first body bytes.

    uvicorn writes a response's status line and headers as soon as the app starts the response,
    and its body in a second write: two segments on the wire, the client woken for a head it can do
    nothing with. Held here until the first body write (joined with it) or, if none comes in the
    same turn of the event loop (a stream waiting for its first event), until the end of that turn.
    aiohttp's server does the same (its headers go with the first chunk). Everything else is the
    connection's transport; one of these per request (``cycle.transport``).
    """

    __slots__ = ("_transport", "_held")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = b""  # b"": nothing written yet; None: the head is out

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._transport.write(data)
        elif held:
            self._held = None
            if len(data) < JOIN_MAX:
                self._transport.write(held + data)
            else:
                self._transport.write(held)
                self._transport.write(data)
        else:  # the head (or a 100 Continue: then that alone is held)
            self._held = data
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def timeout_response(reason: str) -> bytes:
    """A 408 written below the app: the error body the OpenAI dialect uses."""
    body = orjson.dumps(
        {"error": {"message": reason, "type": "invalid_request_error", "code": "request_timeout"}}
    )
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body
