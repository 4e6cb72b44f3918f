"""The open connections: their deadlines, checked by one sweep, and the cap on their number."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from deepseek_free_api.net.connection import EVICTABLE, GuardedConnection, Phase
from deepseek_free_api.net.throttle import LogThrottle

log = logging.getLogger(__name__)

# How often deadlines are checked: a connection is cut at most this long after its limit. One
# sweep over the connections instead of a timer per request keeps the request path cheap.
SWEEP_INTERVAL_S = 0.5


@dataclass(frozen=True, slots=True)
class Limits:
    """What a connection may take (server.* settings); ``max_connections`` is the effective cap."""

    header_timeout_s: float
    body_timeout_s: float
    body_min_rate: int
    max_connections: int


class ConnectionGuard:
    """Registry of open connections; cuts the late ones and makes room at the cap."""

    def __init__(
        self,
        limits: Limits,
        protocol: type[GuardedConnection],
        *,
        throttle: LogThrottle | None = None,
    ) -> None:
        self.limits = limits
        self.throttle = throttle or LogThrottle(log)
        self.protocol_class = protocol.bound_to(self)
        self._open: dict[GuardedConnection, None] = {}  # insertion order = oldest first
        self.pending = 0  # accepted sockets whose protocol is not made yet (listener)
        self._room_waiters: list[Callable[[], None]] = []
        self._sweeper: asyncio.TimerHandle | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the periodic sweep on ``loop``."""
        self._sweeper = loop.call_later(SWEEP_INTERVAL_S, self._sweep, loop)

    def stop(self) -> None:
        """Stop sweeping (the server is shutting down); report what the throttle held back."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self.throttle.flush(all_held=True)

    def __len__(self) -> int:
        return len(self._open) + self.pending

    def opened(self, connection: GuardedConnection) -> None:
        """A connection's protocol is made."""
        self._open[connection] = None

    def closed(self, connection: GuardedConnection) -> None:
        """A connection is gone (or being closed by us): its slot is free."""
        if connection in self._open:
            del self._open[connection]
            if self._room_waiters:
                self._wake_waiters()

    def is_full(self) -> bool:
        """At the cap with every connection busy with a request: nothing may be accepted now."""
        return len(self) >= self.limits.max_connections and self._victim() is None

    def make_room(self) -> None:
        """Close the longest-waiting connection without a request in progress, if at the cap."""
        if len(self) < self.limits.max_connections:
            return
        victim = self._victim()
        if victim is not None:
            self.throttle.event(
                "connections closed at the cap",
                logging.WARNING,
                "%d connections open, the cap (server.max_connections, or the open-file limit): "
                "closing those waiting longest without a request in progress",
                len(self),
            )
            self.closed(victim)
            victim.close(None)

    def wait_for_room(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once a slot may be free (a connection closed, or one became idle)."""
        self._room_waiters.append(callback)

    def _victim(self) -> GuardedConnection | None:
        for connection in self._open:
            if connection.phase in EVICTABLE:
                return connection
        return None

    def _wake_waiters(self) -> None:
        waiters, self._room_waiters = self._room_waiters, []
        for callback in waiters:
            callback()

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweeper = loop.call_later(SWEEP_INTERVAL_S, self._sweep, loop)  # first: survives errors
        now = time.monotonic()
        limits = self.limits
        for connection in list(self._open):
            phase = connection.phase
            if phase is Phase.FRESH or phase is Phase.HEADERS:
                if now - connection.since > limits.header_timeout_s:
                    self._cut(connection, "headers", f"not sent within {limits.header_timeout_s:g} s")
            elif phase is Phase.BODY:
                if connection.reading_paused:  # we are the slow side: the client's clock restarts
                    connection.since, connection.body_bytes = now, 0
                    continue
                allowed = limits.body_timeout_s + connection.body_bytes / limits.body_min_rate
                if now - connection.since > allowed:
                    self._cut(
                        connection,
                        "body",
                        f"slower than {limits.body_min_rate} bytes/s after {limits.body_timeout_s:g} s",
                    )
        if self._room_waiters and not self.is_full():
            self._wake_waiters()
        self.throttle.flush()

    def _cut(self, connection: GuardedConnection, part: str, why: str) -> None:
        silent = connection.phase is Phase.FRESH  # no byte sent: nobody to tell (e.g. a preconnect)
        self.throttle.event(
            f"connections closed for slow request {part}",
            logging.INFO,
            "closed a connection from %s: request %s %s",
            _peer(connection),
            part,
            why,
        )
        self.closed(connection)
        connection.close(None if silent else f"Request {part} {why}")


def _peer(connection: GuardedConnection) -> str:
    client = connection.client
    return f"{client[0]}:{client[1]}" if client else "an unknown address"
