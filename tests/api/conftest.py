"""The real server on a socket, with the simulator on another socket as its DeepSeek."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from deepseek_free_api.app import create_app
from deepseek_free_api.background import BackgroundServer
from deepseek_free_api.config import load_settings
from deepseek_free_api.simulator import SimulatorConfig
from deepseek_free_api.simulator import create_app as create_simulator

API_KEY = "sk-test-service-key"
TOKENS = ("tok-alpha", "tok-beta")


def simulator_config(**changes: Any) -> SimulatorConfig:
    """Two token accounts, a tiny PoW difficulty, fast replies."""
    base: dict[str, Any] = {
        "difficulty": 2000,
        "accounts": [{"id": "alpha", "token": TOKENS[0]}, {"id": "beta", "token": TOKENS[1]}],
    }
    base.update(changes)
    return SimulatorConfig.from_dict(base)


@dataclass
class Stack:
    """A running simulator and server."""

    simulator: BackgroundServer
    server: BackgroundServer

    @property
    def base_url(self) -> str:
        return self.server.url + "/v1"

    def sim(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, self.simulator.url + path, timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()

    def upstream_requests(self, path_suffix: str = "") -> list[dict[str, Any]]:
        data = self.sim("GET", "/_sim/requests")
        items = data["requests"] if isinstance(data, dict) else data
        return [r for r in items if r["path"].endswith(path_suffix)]


def start_stack(sim_config: SimulatorConfig, **overrides: Any) -> Iterator[Stack]:
    with BackgroundServer(create_simulator(sim_config)) as simulator:
        options: dict[str, Any] = {
            "base_url": simulator.url,
            "tokens": list(TOKENS),
            "api_keys": [API_KEY],
            "keepalive_interval_s": 5.0,
        }
        options.update(overrides)
        settings = load_settings(overrides=options, env={})
        with BackgroundServer(create_app(settings)) as server:
            yield Stack(simulator, server)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from start_stack(simulator_config())


@pytest.fixture(autouse=False)
def clean(stack: Stack) -> Stack:
    stack.sim("POST", "/_sim/reset")
    return stack
