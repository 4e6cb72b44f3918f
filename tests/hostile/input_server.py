"""`serve` in its own process with the simulator as its DeepSeek, and what an attacker's victim sees.

``served`` starts the simulator in this process and the server as a user runs it (the CLI, a
default configuration: no service keys, so any bearer is taken as the caller's own DeepSeek
tokens). ``PingWatch`` is another client asking ``/ping`` all the while; ``peak_rss_mb`` reads the
server's high-water mark of resident memory from ``/proc``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from deepseek_free_api.background import BackgroundServer, free_port
from deepseek_free_api.simulator import create_app as create_simulator
from tests.api.conftest import TOKENS, simulator_config
from tests.support.processes import CLI, Running, clean_env, running

TOKEN = TOKENS[0]  # a token the simulator knows: the caller's own DeepSeek account


@dataclass
class Served:
    """The running server (its process) and the simulator behind it."""

    server: Running
    simulator: BackgroundServer

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def pid(self) -> int:
        return self.server.process.pid

    def upstream(self, path_suffix: str) -> list[dict[str, Any]]:
        """What the simulator received on paths ending with ``path_suffix``, oldest first."""
        response = httpx.get(self.simulator.url + "/_sim/requests", timeout=10)
        response.raise_for_status()
        return [r for r in response.json()["requests"] if r["path"].endswith(path_suffix)]

    def post(self, path: str, body: Any, *, token: str = TOKEN, timeout: float = 30) -> httpx.Response:
        """A JSON request with the token as bearer (and as Anthropic's ``x-api-key``)."""
        headers = {"Authorization": f"Bearer {token}", "x-api-key": token}
        return httpx.post(self.url + path, json=body, headers=headers, timeout=timeout)


@contextmanager
def served(scripts: Sequence[dict[str, Any]] = ()) -> Iterator[Served]:
    """The simulator (with ``scripts``) and ``deepseek-free-api serve`` pointed at it."""
    with BackgroundServer(create_simulator(simulator_config(scripts=list(scripts)))) as simulator:
        port = free_port()
        env = clean_env(DEEPSEEK_BASE_URL=simulator.url, DEEPSEEK_FREE_API_POOL_MIN_INTERVAL_S="0")
        with running([*CLI, "serve", "--port", str(port)], port, env=env) as server:
            ready = Served(server, simulator)
            # The first chat of a fresh process stalls /ping for up to 0.8 s (one-time start-up
            # work, measured 2026-12): done here, so the tests time the attack alone.
            body = {"model": "deepseek-chat", "messages": [{"role": "user", "content": "warm up"}]}
            ready.post("/v1/chat/completions", body).raise_for_status()
            yield ready


@dataclass
class PingWatch:
    """Another client asking ``GET /ping`` every ``every_s`` while the block runs: the slowest answer."""

    url: str
    every_s: float = 0.02
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> PingWatch:
        self._thread = threading.Thread(target=self._run, name="ping-watch", daemon=True)
        self._thread.start()
        while not self.latencies and not self.failures:  # watching before the attack starts
            time.sleep(0.005)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=10)

    @property
    def slowest(self) -> float:
        return max(self.latencies, default=float("inf"))

    def _run(self) -> None:
        with httpx.Client(timeout=2) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    client.get(self.url + "/ping").raise_for_status()
                    self.latencies.append(time.monotonic() - started)
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__} after {time.monotonic() - started:.2f} s")
                self._stop.wait(self.every_s)
