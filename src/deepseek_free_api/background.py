"""Run an ASGI app with uvicorn on a free loopback port in a background thread.

Used by the tests (real sockets, real SDK clients), the benchmarks and ``serve --demo``.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn
from uvicorn.config import LOG_LEVELS

# uvicorn logs through these module-level loggers, shared by every server in the process.
_UVICORN_LOGGERS = ("uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class _OwnRecords(logging.Filter):
    """Holds one server thread's uvicorn records to that server's level, labelled with its name.

    uvicorn's ``log_level`` and ``access_log`` set the shared loggers, so the last server
    configured decides for all: without this, ``serve --demo`` printed the in-process simulator's
    access lines among the server's own.
    """

    def __init__(self, thread_name: str, level: int, label: str) -> None:
        super().__init__()
        self.thread_name = thread_name
        self.level = level
        self.label = label

    def filter(self, record: logging.LogRecord) -> bool:
        if record.threadName != self.thread_name:
            return True
        if record.levelno < self.level:
            return False
        if self.label:
            record.msg = f"[{self.label}] {record.msg}"
        return True


class BackgroundServer:
    """uvicorn serving ``app`` in its own thread and event loop; a context manager.

    Its uvicorn log lines (access lines included) below ``log_level`` (default ``warning``) are
    dropped even when another server in the process logs at a lower level; those that pass are
    prefixed with ``[name]`` when a ``name`` is given.
    """

    def __init__(
        self, app: Any, *, host: str = "127.0.0.1", port: int = 0, name: str = "", **config: Any
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        options: dict[str, Any] = {
            "log_level": "warning",
            "lifespan": "on",
            "timeout_graceful_shutdown": 2,
            "proxy_headers": False,  # as `serve`: only server.trusted_proxies may name the client
        }
        options.update(config)
        self._server = uvicorn.Server(uvicorn.Config(app, host=self.host, port=self.port, **options))
        thread_name = f"uvicorn:{self.port}"
        self._thread = threading.Thread(target=self._server.run, name=thread_name, daemon=True)
        level = options["log_level"]
        self._filter = _OwnRecords(
            thread_name, LOG_LEVELS[level.lower()] if isinstance(level, str) else int(level), name
        )

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:43210``."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> BackgroundServer:
        """Start serving; return once the socket accepts connections."""
        for name in _UVICORN_LOGGERS:
            logging.getLogger(name).addFilter(self._filter)
        self._thread.start()
        try:
            self._wait_started(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_started(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"server on port {self.port} failed to start")
            if time.monotonic() > deadline:
                raise TimeoutError(f"server on port {self.port} did not start in {timeout}s")
            time.sleep(0.01)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout)
        for name in _UVICORN_LOGGERS:
            logging.getLogger(name).removeFilter(self._filter)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
