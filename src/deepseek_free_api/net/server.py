"""uvicorn's server with the guard's listener in place of asyncio's accept loop."""

from __future__ import annotations

import asyncio
import errno
import importlib.util
import logging
import socket
import sys
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from deepseek_free_api.net.connection import GuardedConnection
from deepseek_free_api.net.guard import ConnectionGuard, Limits
from deepseek_free_api.net.limits import connection_cap, raise_open_file_limit
from deepseek_free_api.net.listener import Listener, bind
from deepseek_free_api.settings import ServerSettings

log = logging.getLogger(__name__)


def guard_for(settings: ServerSettings) -> ConnectionGuard:
    """Raise the open-file limit, derive the connection cap from it, and log both."""
    limit = raise_open_file_limit()
    cap = connection_cap(settings.max_connections, settings.reserved_fds, limit)
    if limit is not None:
        log.info(
            "open files: soft limit %d (was %d), hard limit %d; up to %d connections "
            "(server.max_connections %d, server.reserved_fds %d)",
            limit.soft,
            limit.found,
            limit.hard,
            cap,
            settings.max_connections,
            settings.reserved_fds,
        )
    limits = Limits(
        header_timeout_s=settings.header_timeout_s,
        body_timeout_s=settings.body_timeout_s,
        body_min_rate=settings.body_min_rate,
        max_connections=cap,
    )
    parser, protocol = protocol_for(settings)
    log.info("HTTP parser: %s; event loop: %s", parser, event_loop())
    return ConnectionGuard(limits, protocol)


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    return importlib.util.find_spec(module) is not None


def event_loop() -> str:
    """uvicorn's loop: uvloop when installed (a dependency on Linux), else asyncio's."""
    return "uvloop" if installed("uvloop") else "asyncio"


def protocol_for(settings: ServerSettings) -> tuple[str, type[GuardedConnection]]:
    """httptools' parser when installed and not turned off (server.http_parser), else h11's.

    Only the one chosen is imported (h11 and its uvicorn protocol are ≈ 8 ms of start-up).
    """
    if settings.http_parser == "auto" and installed("httptools"):
        from deepseek_free_api.net.httptools_connection import GuardedHttpToolsProtocol

        return "httptools", GuardedHttpToolsProtocol
    from deepseek_free_api.net.h11_connection import GuardedH11Protocol

    return "h11", GuardedH11Protocol


def claim_port(host: str, port: int) -> list[socket.socket]:
    """Bind and listen on ``host:port`` now, before anything starts or is printed (OSError if not).

    A port in use is the first thing the user hears, not something said after the demo banner and
    the app's start; connections that arrive meanwhile wait in the kernel's backlog.
    """
    sockets = bind(host, port)
    try:
        for sock in sockets:
            sock.listen()
    except OSError:
        close_all(sockets)
        raise
    return sockets


def port_problem(host: str, port: int, exc: OSError) -> str:
    """One line saying why ``claim_port`` failed, and what to do about a port in use."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return f"cannot listen on {where}: the port is in use (another server?); choose another with --port"
    return f"cannot listen on {where}: {exc.strerror or exc}"


def close_all(sockets: list[socket.socket]) -> None:
    """Close sockets (again: closing twice is harmless)."""
    for sock in sockets:
        sock.close()


def uvicorn_options(guard: ConnectionGuard, settings: ServerSettings) -> dict[str, Any]:
    """The uvicorn.Config options the guard relies on."""
    return {
        "http": guard.protocol_class,
        "ws": "none",  # no WebSocket routes: an upgrade stays a plain HTTP request
        # uvloop (a dependency on Linux) runs the same listener: it has add_reader and
        # connect_accepted_socket, and makes each connection's transport cheaper than asyncio's.
        "loop": event_loop(),
        "timeout_keep_alive": settings.idle_timeout_s,
    }


class GuardedServer(uvicorn.Server):
    """A uvicorn server whose sockets are accepted by ``Listener`` under ``guard``.

    ``claimed``: sockets already listening (``claim_port``); without them it binds at startup.
    """

    def __init__(
        self, config: uvicorn.Config, guard: ConnectionGuard, claimed: list[socket.socket] | None = None
    ) -> None:
        super().__init__(config)
        self.guard = guard
        self._claimed = claimed
        self._listeners: list[Listener] = []

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's startup for a host and port, with our accept loop."""
        if sockets is not None:  # pragma: no cover - handed sockets (gunicorn workers): not ours
            await super().startup(sockets)
            return
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            close_all(self._claimed or [])
            sys.exit(STARTUP_FAILURE)
        config = self.config
        try:
            bound = self._claimed if self._claimed is not None else bind(config.host, config.port)
        except OSError as exc:
            log.error("cannot listen on %s:%d: %s", config.host, config.port, exc)
            await self.lifespan.shutdown()
            sys.exit(STARTUP_FAILURE)
        loop = asyncio.get_running_loop()

        def protocol() -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state, _loop=loop
            )

        self._listeners = [Listener(sock, protocol, self.guard, loop) for sock in bound]
        self.servers = []
        for listener in self._listeners:
            listener.start(config.backlog)
        self.guard.start(loop)
        self._log_started_message([listener.sock for listener in self._listeners])
        self.started = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop accepting first, then uvicorn's graceful shutdown; the sweep runs until the end."""
        for listener in self._listeners:
            listener.close()
        try:
            await super().shutdown(sockets)
        finally:
            self.guard.stop()
