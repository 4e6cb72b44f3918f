"""`deepseek-free-api serve` in its own process, with the simulator as its DeepSeek."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from deepseek_free_api.background import BackgroundServer, free_port
from deepseek_free_api.config import env_name
from deepseek_free_api.simulator import create_app as create_simulator
from tests.api.conftest import API_KEY, TOKENS, simulator_config
from tests.support.processes import CLI, Running, clean_env, running

OTHER_KEY = "sk-test-other-service-key"


@dataclass
class Served:
    """A running simulator and a `serve` process using it."""

    simulator: BackgroundServer
    server: Running

    @property
    def url(self) -> str:
        return self.server.url

    def upstream_requests(self, path_suffix: str = "") -> list[dict[str, Any]]:
        """What the simulator received, oldest first, optionally only paths ending so."""
        response = httpx.get(self.simulator.url + "/_sim/requests", timeout=10)
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["requests"]
        return [r for r in items if r["path"].endswith(path_suffix)]


def serve_env(simulator_url: str, settings: dict[str, str]) -> dict[str, str]:
    """The environment of a `serve` that uses the simulator's two accounts behind two service keys."""
    return clean_env(
        DEEPSEEK_BASE_URL=simulator_url,
        DEEP_SEEK_CHAT_AUTHORIZATION=",".join(TOKENS),
        API_KEYS=f"{API_KEY},{OTHER_KEY}",
        **{env_name("pool.min_interval_s"): "0"},
        **{env_name(key): value for key, value in settings.items()},
    )


@contextmanager
def serve_process(simulator: BackgroundServer, settings: dict[str, str]) -> Iterator[Running]:
    """`serve` on a free port against ``simulator``, with ``settings`` (dotted keys) in its environment."""
    port = free_port()
    argv = [*CLI, "serve", "--port", str(port)]
    with running(argv, port, env=serve_env(simulator.url, settings)) as server:
        yield server


@contextmanager
def served(**settings: str) -> Iterator[Served]:
    """The simulator in this process and `serve` in its own; ``settings`` use ``__`` for the dot."""
    dotted = {key.replace("__", "."): value for key, value in settings.items()}
    with BackgroundServer(create_simulator(simulator_config())) as simulator:
        with serve_process(simulator, dotted) as server:
            yield Served(simulator, server)
