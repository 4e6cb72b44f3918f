"""uvicorn's h11 protocol (pure Python), keeping the guard told which phase the connection is in."""

from __future__ import annotations

import asyncio
import time

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from deepseek_free_api.net.connection import GuardedConnection, HeadWithBody, Phase


class GuardedH11Protocol(GuardedConnection, H11Protocol):
    """One client connection parsed by h11 (uvicorn's pure-Python parser)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_guard()

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.closed(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._on_data(data)
        before = self.cycle
        super().data_received(data)
        self._new_request(before)
        self._follow_request()

    def on_response_complete(self) -> None:
        before = self.cycle
        super().on_response_complete()  # may start a pipelined request
        self._new_request(before)
        self._follow_request()

    def _new_request(self, before: object) -> None:
        """A request uvicorn began just now (its task has not run yet) writes through HeadWithBody."""
        cycle = self.cycle
        if cycle is not before and cycle is not None:
            cycle.transport = HeadWithBody(self.transport)

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
