"""Fixtures: each backend's stores at a fresh location (SQLite file, Redis key prefix), and a real Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deepseek_free_api.stores import StoreOptions, Stores, open_stores
from tests.support.redis_server import redis_server


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server for the whole session (fails under CI=true if it cannot start)."""
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@dataclass(frozen=True)
class Backend:
    """Where one test's stores live; ``open`` may be called again to reopen the same state."""

    name: str
    url: str
    data_dir: Path

    async def open(self, options: StoreOptions | None = None) -> Stores:
        return await open_stores(self.url, self.data_dir, options=options)


def _backend(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    data_dir = tmp_path / "data"
    if name == "memory":
        return Backend(name, "memory://", data_dir)
    if name == "sqlite":
        return Backend(name, "", data_dir)  # the default: a file in the data directory
    base: str = request.getfixturevalue("redis_url")
    return Backend(name, f"{base}/0?prefix=test-{uuid.uuid4().hex[:12]}:", data_dir)


@pytest.fixture(params=["memory", "sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Every backend in turn."""
    return _backend(request.param, request, tmp_path)


@pytest.fixture(params=["sqlite", "redis"])
def shared_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The backends that several processes (and a restart) share."""
    return _backend(request.param, request, tmp_path)
