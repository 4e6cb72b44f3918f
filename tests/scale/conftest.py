"""Several `serve` processes on one state store, with the simulator (in this process) as DeepSeek.

The simulator counts one-generation violations: a completion requested on an account while a
generation still runs on it (``/_sim/state``). Servers that share their leases never cause one.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from deepseek_free_api.background import BackgroundServer, free_port
from deepseek_free_api.config import env_name
from deepseek_free_api.simulator import SimulatorConfig
from deepseek_free_api.simulator import create_app as create_simulator
from tests.stores.conftest import redis_url  # noqa: F401 - the session's real redis-server
from tests.support.processes import CLI, REPO, Running, clean_env, running

API_KEY = "sk-test-scale-key"
TOKENS = ("tok-alpha", "tok-beta", "tok-gamma")
# Each answer takes about half a second: long enough for requests to overlap on an account.
QUICK = {
    "pattern": "^quick",
    "answer": "{echo}",
    "answer_chars": 100,
    "pacing": {"chunks_per_second": 20, "chunk_chars": 10},
}
# About 6 s: three at once need three accounts for longer than a lease outlives its killed holder.
MEDIUM = {
    "pattern": "^medium",
    "answer": "{echo}",
    "answer_chars": 600,
    "pacing": {"chunks_per_second": 10, "chunk_chars": 10},
}
# About 20 s: still generating upstream long after a killed server's lease has expired.
LONG = {
    "pattern": "^long",
    "answer": "{echo}",
    "answer_chars": 4000,
    "pacing": {"chunks_per_second": 20, "chunk_chars": 10},
}
LEASE_TTL_S = 3.0


def simulator(accounts: int) -> BackgroundServer:
    config = SimulatorConfig.from_dict(
        {
            "difficulty": 2000,
            "accounts": [{"id": t.removeprefix("tok-"), "token": t} for t in TOKENS[:accounts]],
            "scripts": [QUICK, MEDIUM, LONG],
            "request_log_limit": 5000,
        }
    )
    return BackgroundServer(create_simulator(config))


@dataclass(frozen=True)
class Store:
    """Where the servers of one test keep their state: its settings as environment variables."""

    name: str
    env: dict[str, str]


@pytest.fixture(params=["redis", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A store for one test: a Redis key prefix, or one SQLite file in a shared data directory."""
    env = {env_name("server.data_dir"): str(tmp_path / "data")}
    if request.param == "redis":
        base = request.getfixturevalue("redis_url")
        env[env_name("store.url")] = f"{base}/0?prefix=scale-{uuid.uuid4().hex[:8]}:"
    return Store(request.param, env)


def server_env(sim: BackgroundServer, store: Store, accounts: int, **settings: str) -> dict[str, str]:
    """The environment of a `serve` on the simulator's accounts, the store, short leases, no pacing."""
    env = clean_env(
        DEEPSEEK_BASE_URL=sim.url,
        DEEP_SEEK_CHAT_AUTHORIZATION=",".join(TOKENS[:accounts]),
        API_KEYS=API_KEY,
        **{env_name("pool.min_interval_s"): "0", env_name("pool.lease_ttl_s"): str(LEASE_TTL_S)},
        **store.env,
    )
    env.update({env_name(key): value for key, value in settings.items()})
    return env


@contextmanager
def serve(env: dict[str, str], *extra: str) -> Iterator[Running]:
    """`serve` (with ``extra`` arguments) on a free port."""
    port = free_port()
    with running([*CLI, "serve", "--port", str(port), *extra], port, env=env) as server:
        yield server


def sim_state(sim: BackgroundServer) -> dict[str, Any]:
    response = httpx.get(sim.url + "/_sim/state", timeout=10)
    response.raise_for_status()
    state: dict[str, Any] = response.json()
    return state


def upstream(sim: BackgroundServer, path_suffix: str) -> list[dict[str, Any]]:
    """What the simulator received on paths ending with ``path_suffix``, oldest first."""
    response = httpx.get(sim.url + "/_sim/requests", timeout=10)
    response.raise_for_status()
    return [r for r in response.json()["requests"] if r["path"].endswith(path_suffix)]


@dataclass(frozen=True)
class Outcome:
    """One chat request as its client saw it."""

    status: int
    retry_after: str | None
    text: str


async def chat(client: httpx.AsyncClient, url: str, prompt: str, *, stream: bool = False) -> Outcome:
    body = {"model": "deepseek-chat", "messages": [{"role": "user", "content": prompt}], "stream": stream}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    response = await client.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=90)
    return Outcome(response.status_code, response.headers.get("retry-after"), response.text)


def spread(urls: Sequence[str], count: int, prompt: str) -> list[Outcome]:
    """``count`` concurrent requests, sent round-robin to ``urls``."""

    async def main() -> list[Outcome]:
        limits = httpx.Limits(max_connections=count)
        async with httpx.AsyncClient(limits=limits) as client:
            calls = [chat(client, urls[i % len(urls)], f"{prompt} {i}") for i in range(count)]
            return list(await asyncio.gather(*calls))

    return asyncio.run(main())


def assert_served_or_refused_honestly(outcomes: Sequence[Outcome]) -> None:
    """Every request got its answer, or 429 with a Retry-After."""
    for outcome in outcomes:
        assert outcome.status == 200 or (outcome.status == 429 and outcome.retry_after), outcome
    assert any(o.status == 200 for o in outcomes)


def accounts(*argv: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``deepseek-free-api accounts ARGV`` as a user does."""
    return subprocess.run(
        [*CLI, "accounts", *argv],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
