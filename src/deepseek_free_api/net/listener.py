"""Our accept loop: bounded by the guard's cap, and quiet and calm when accept() fails.

asyncio's own loop (``selector_events._accept_connection``, CPython 3.11) does not stop after an
``EMFILE``: it tries the rest of its ``backlog`` (uvicorn: 2048) accepts, logging a traceback and
scheduling a retry timer for each, and each timer re-arms the socket, so the flood grows by
itself (python/cpython#151615; measured 2026-12 on 3.11.7 under ``ulimit -n 1024``: 3.4 million
log lines in 7 s, /ping unanswered). Here a failed accept pauses this socket for a second with
one throttled log line, and at the cap the socket is not read at all until a slot frees (the
kernel's backlog holds the newcomers).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
from collections.abc import Callable

from deepseek_free_api.net.guard import ConnectionGuard

# Accepts per readiness event: fairness to the connections being served, and a bound on the
# descriptors taken before the guard sees them (kept well below server.reserved_fds).
ACCEPT_BATCH = 64
RETRY_AFTER_ERROR_S = 1.0
_RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def bind(host: str, port: int) -> list[socket.socket]:
    """Bound, non-blocking sockets for every address of ``host`` (as asyncio.create_server does)."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            if os.name == "posix":  # elsewhere (Windows) it would let others bind the same port
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class Listener:
    """Accepts connections on one listening socket and hands them to uvicorn's protocol."""

    def __init__(
        self,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.Protocol],
        guard: ConnectionGuard,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._sock = sock
        self._factory = protocol_factory
        self._guard = guard
        self._loop = loop
        self._reading = False
        self._adopting: set[asyncio.Task[None]] = set()

    @property
    def sock(self) -> socket.socket:
        """The listening socket."""
        return self._sock

    def start(self, backlog: int) -> None:
        """Listen and start accepting."""
        self._sock.listen(backlog)
        self._resume()

    def close(self) -> None:
        """Stop accepting and close the socket (connections already accepted live on)."""
        if self._sock.fileno() != -1:
            self._pause()
            self._sock.close()

    def _resume(self) -> None:
        if not self._reading and self._sock.fileno() != -1:
            self._loop.add_reader(self._sock.fileno(), self._accept)
            self._reading = True

    def _pause(self) -> None:
        if self._reading:
            self._loop.remove_reader(self._sock.fileno())
            self._reading = False

    def _accept(self) -> None:
        guard = self._guard
        for _ in range(ACCEPT_BATCH):
            if guard.is_full():
                self._pause()
                guard.wait_for_room(self._resume)
                return
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                self._back_off(exc)
                return
            conn.setblocking(False)
            guard.make_room()
            guard.pending += 1
            task = self._loop.create_task(self._adopt(conn))
            self._adopting.add(task)
            task.add_done_callback(self._adopting.discard)

    def _back_off(self, exc: OSError) -> None:
        kind = "out of file descriptors" if exc.errno in _RESOURCE_ERRORS else "accept failed"
        self._guard.throttle.event(
            f"accept() {kind}",
            logging.WARNING,
            "accept() failed (%s, %d connections open); not accepting for %.0f s",
            exc,
            len(self._guard),
            RETRY_AFTER_ERROR_S,
        )
        self._pause()
        self._loop.call_later(RETRY_AFTER_ERROR_S, self._resume)

    async def _adopt(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, conn)
        except Exception as exc:  # a peer that reset at once, or no descriptor left for the transport
            self._guard.throttle.event("connection setup failed", logging.WARNING, "setup: %r", exc)
            conn.close()
        finally:
            self._guard.pending -= 1
