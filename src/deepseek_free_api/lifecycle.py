"""Serving with a graceful stop: SIGTERM/SIGINT stop in-flight generations before uvicorn exits.

uvicorn waits for open responses on shutdown and only then runs the lifespan's shutdown, so a
streaming answer would keep DeepSeek generating until the graceful timeout cancels it (with a
traceback). Here the signal also starts the app's ``Drain`` on the event loop: every turn stops its
upstream generation, releases its account, and ends its stream with an error event, so the
process exits within the graceful timeout and without tracebacks. After a Ctrl-C, uvicorn raises
SIGINT again once it has shut down, which asyncio turns into ``KeyboardInterrupt``: the stop was
asked for and is done, so ``run`` returns quietly (``uvicorn.run`` does the same for ``simulate``).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from types import FrameType
from typing import Any

import uvicorn

from deepseek_free_api import heap
from deepseek_free_api.net.guard import ConnectionGuard
from deepseek_free_api.net.server import GuardedServer

log = logging.getLogger(__name__)


class DrainingServer(GuardedServer):
    """The guarded uvicorn server, telling the app's ``Drain`` when a stop signal arrives."""

    def __init__(
        self, config: uvicorn.Config, guard: ConnectionGuard, claimed: list[socket.socket] | None = None
    ) -> None:
        super().__init__(config, guard, claimed)
        self._loop: asyncio.AbstractEventLoop | None = None

    def run(self, sockets: list[socket.socket] | None = None) -> None:
        """Serve until a stop signal; Ctrl-C ends it as quietly as SIGTERM (see the module doc)."""
        try:
            super().run(sockets)
        except KeyboardInterrupt:
            pass

    async def serve(self, sockets: Any = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        heap.settle()  # the app's start-up objects exist now: out of every later collection

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        drain = getattr(getattr(self.config.app, "state", None), "drain", None)
        if drain is not None and self._loop is not None:
            # Signal handlers run between bytecodes: hand the work to the loop, thread-safely.
            self._loop.call_soon_threadsafe(self._drain, drain)

    @staticmethod
    def _drain(drain: Any) -> None:
        stopped = drain.start()
        if stopped:
            log.info("shutting down: stopping %d answer(s) in progress", stopped)
