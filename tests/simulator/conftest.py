"""A simulator on a free port per test module, reset before every test."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import httpx
import pytest

from deepseek_free_api.background import BackgroundServer
from deepseek_free_api.simulator import ScriptedReply, SimulatorConfig, create_app

from .client import Sim

SLOW = ScriptedReply(
    pattern="^slow", name="slow", answer_chars=400, pacing={"chunks_per_second": 50, "chunk_chars": 10}
)


def test_config(**changes: Any) -> SimulatorConfig:
    """The demo accounts and scripts, a tiny PoW difficulty, no pacing, quick file parsing."""
    demo = SimulatorConfig.demo()
    base: dict[str, Any] = {
        "difficulty": 64,
        "pacing": demo.pacing.merged({"first_token_ms": 0, "chunks_per_second": 0}),
        "file_parse_seconds": 0.3,
        "scripts": (SLOW, *demo.scripts),
    }
    base.update(changes)
    return demo.with_changes(**base)


test_config.__test__ = False  # type: ignore[attr-defined]


@contextmanager
def running(config: SimulatorConfig) -> Iterator[httpx.Client]:
    """A started simulator and an httpx client bound to it."""
    with BackgroundServer(create_app(config)) as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield client


@pytest.fixture(scope="module")
def server_client() -> Iterator[httpx.Client]:
    with running(test_config()) as client:
        yield client


@pytest.fixture
def client(server_client: httpx.Client) -> httpx.Client:
    assert server_client.post("/_sim/reset").status_code == 200
    return server_client


@pytest.fixture
def sim(client: httpx.Client) -> Sim:
    return Sim(client, "demo-token-1")


@pytest.fixture
def custom() -> Callable[..., AbstractContextManager[httpx.Client]]:
    """Start a simulator with config changes: ``with custom(throttle_burst=2) as client``."""

    def make(**changes: Any) -> AbstractContextManager[httpx.Client]:
        return running(test_config(**changes))

    return make


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``check`` until it holds (state changes made by the server's own loop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False
