"""The real server on a socket, with the simulator on another socket as its DeepSeek."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

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


def server_config_file(folder: Path, simulator_url: str) -> Path:
    """A TOML file for `serve` in its own process: the simulator as DeepSeek, one account, API_KEY."""
    path = folder / "server.toml"
    path.write_text(
        f'[upstream]\nbase_url = "{simulator_url}"\n[auth]\napi_keys = ["{API_KEY}"]\n'
        f'[[accounts]]\ntoken = "{TOKENS[0]}"\n'
    )
    return path


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
        """What the simulator received, oldest first, optionally only paths ending so."""
        items: list[dict[str, Any]] = self.sim("GET", "/_sim/requests")["requests"]
        return [r for r in items if r["path"].endswith(path_suffix)]

    def _chat_args(self, content: str, key: str | None, stream: bool) -> dict[str, Any]:
        body = {
            "model": "deepseek-chat",
            "messages": [{"role": "user", "content": content}],
            "stream": stream,
        }
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return {"url": self.base_url + "/chat/completions", "json": body, "headers": headers, "timeout": 30}

    def post_chat(self, content: str, *, key: str | None = API_KEY) -> httpx.Response:
        """A raw non-streaming chat request (for status codes and headers the SDK hides)."""
        return httpx.post(**self._chat_args(content, key, stream=False))

    def stream_chat(
        self, content: str, *, key: str | None = API_KEY
    ) -> AbstractContextManager[httpx.Response]:
        """A raw streaming chat request, as a context manager."""
        return httpx.stream("POST", **self._chat_args(content, key, stream=True))


def start_stack(sim_config: SimulatorConfig, **overrides: Any) -> Generator[Stack, None, None]:
    with BackgroundServer(create_simulator(sim_config)) as simulator:
        options: dict[str, Any] = {
            "base_url": simulator.url,
            "tokens": list(TOKENS),
            "api_keys": [API_KEY],
            "keepalive_interval_s": 5.0,
            "store.url": "memory://",
        }
        options.update(overrides)
        settings = load_settings(overrides=options, env={})
        with BackgroundServer(create_app(settings)) as server:
            yield Stack(simulator, server)


_SDK_CLIENTS: dict[tuple[type[Any], str, str | None], Any] = {}
SdkT = TypeVar("SdkT")


def sdk_client(kind: type[SdkT], base_url: str, api_key: str | None) -> SdkT:
    """One official SDK client per (SDK, server, key) for the session, closed at its end.

    A client made per call and left to the garbage collector leaves pooled sockets open, and the
    ResourceWarning then fails whichever test happens to run at that moment.
    """
    key = (kind, base_url, api_key)
    client = _SDK_CLIENTS.get(key)
    if client is None:
        client = _SDK_CLIENTS[key] = kind(base_url=base_url, api_key=api_key, max_retries=0)  # type: ignore[call-arg]
    return client


@pytest.fixture(scope="session", autouse=True)
def close_sdk_clients() -> Iterator[None]:
    yield
    for client in _SDK_CLIENTS.values():
        client.close()
    _SDK_CLIENTS.clear()
