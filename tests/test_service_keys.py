"""Service keys with limits and usage, as an operator runs them: two ``serve`` processes sharing one
store (the default SQLite file, or a real Redis), ``keys create|list|revoke`` run beside them, and
requests in all three dialects over real sockets."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from deepseek_free_api.background import BackgroundServer, free_port
from deepseek_free_api.simulator import create_app as create_simulator
from deepseek_free_api.stores import UsageRow, open_stores
from tests.api.conftest import TOKENS, simulator_config
from tests.support.processes import CLI, clean_env, run_keys, running
from tests.support.redis_server import redis_server

CONFIG_KEY = "sk-configured-key-without-limits"
SLOW = "SLOW-KEY"  # prompts with this stall upstream for a while (a request that stays in flight)


@dataclass
class Servers:
    """Two server processes on one store, and the environment the ``keys`` command shares with them."""

    urls: tuple[str, str]
    env: dict[str, str]
    simulator: BackgroundServer

    def keys(self, *argv: str) -> str:
        result = run_keys(*argv, env=self.env)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def create(self, *limits: str) -> str:
        """A new key (with ``limits`` flags); its name is the key's label in errors and usage."""
        return self.keys("create", "--name", f"k-{uuid.uuid4().hex[:8]}", *limits).strip()

    def name_of(self, key: str) -> str:
        for line in self.keys("list").splitlines()[1:]:
            if f"sk-{key[3:7]}…" in line:
                return line.split()[0]
        raise AssertionError(f"no key sk-{key[3:7]}… listed")


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def servers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    config = simulator_config(
        accounts=[{"id": f"acct-{i}", "token": f"tok-{i}"} for i in range(4)],
        faults=[{"fault": "stall", "times": 0, "prompt_contains": SLOW, "params": {"seconds": 4}}],
    )
    data_dir = tmp_path_factory.mktemp("data")
    with BackgroundServer(create_simulator(config)) as simulator, _store(request, tmp_path_factory) as url:
        env = clean_env(
            DEEPSEEK_FREE_API_SERVER_DATA_DIR=str(data_dir),
            DEEPSEEK_FREE_API_UPSTREAM_BASE_URL=simulator.url,
            DEEP_SEEK_CHAT_AUTHORIZATION=",".join(f"tok-{i}" for i in range(4)),
            API_KEYS=CONFIG_KEY,
            DEEPSEEK_FREE_API_POOL_MIN_INTERVAL_S="0",
        )
        if url:
            env["DEEPSEEK_FREE_API_STORE_URL"] = url
        ports = free_port(), free_port()
        with (
            running([*CLI, "serve", "--port", str(ports[0])], ports[0], env=env) as first,
            running([*CLI, "serve", "--port", str(ports[1])], ports[1], env=env) as second,
        ):
            yield Servers((first.url, second.url), env, simulator)


def _store(request: pytest.FixtureRequest, tmp: pytest.TempPathFactory) -> Any:
    """The store's URL: "" (the default SQLite file in the data directory) or a fresh Redis."""
    if request.param == "sqlite":
        return _nothing()
    return redis_server(tmp.mktemp("redis"))


class _nothing:  # noqa: N801 - a context manager standing in for "no Redis"
    def __enter__(self) -> str:
        return ""

    def __exit__(self, *exc: object) -> None:
        return None


# ---- one request in each dialect ----------------------------------------------------------------


def chat(
    url: str, key: str, *, model: str = "deepseek-chat", text: str = "hi", stream: bool = False
) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}], "stream": stream}
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=30)


def responses(url: str, key: str, *, model: str = "deepseek-chat", text: str = "hi") -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.post(
        url + "/v1/responses", json={"model": model, "input": text}, headers=headers, timeout=30
    )


def messages(url: str, key: str, *, model: str = "claude-haiku-4-5", text: str = "hi") -> httpx.Response:
    body = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": text}]}
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    return httpx.post(url + "/v1/messages", json=body, headers=headers, timeout=30)


DIALECTS = {"chat": chat, "responses": responses, "messages": messages}


def error_of(response: httpx.Response, dialect: str) -> tuple[str, str]:
    """(type, message) of an error body in the dialect's own envelope."""
    body = response.json()
    if dialect == "messages":
        assert body["type"] == "error", body
    return body["error"]["type"], body["error"]["message"]


# ---- the tests ----------------------------------------------------------------------------------


def test_a_created_key_works_at_once_on_both_running_servers(servers: Servers) -> None:
    key = servers.create()
    for url in servers.urls:
        for dialect, send in DIALECTS.items():
            assert send(url, key).status_code == 200, dialect
    assert chat(servers.urls[0], CONFIG_KEY).status_code == 200  # configured keys keep working
    unknown = chat(servers.urls[1], "sk-" + "x" * 43)
    assert unknown.status_code == 401 and unknown.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_rpm_2_makes_the_third_request_within_a_minute_a_429_with_retry_after(
    servers: Servers, dialect: str
) -> None:
    key = servers.create("--rpm", "2")
    send = DIALECTS[dialect]
    first = time.time()
    assert send(servers.urls[0], key).status_code == 200
    assert send(servers.urls[1], key).status_code == 200  # the other process counts in the same window
    third = send(servers.urls[0], key)
    elapsed = time.time() - first
    assert third.status_code == 429, third.text
    retry_after = int(third.headers["retry-after"])
    assert 60 - elapsed - 2 <= retry_after <= 60, (retry_after, elapsed)  # until the first leaves the window
    kind, message = error_of(third, dialect)
    assert kind == "rate_limit_error" and "rpm limit" in message and servers.name_of(key) in message
    if dialect != "messages":
        assert third.json()["error"]["code"] == "rpm_limit_exceeded"
    if dialect == "chat":  # a stream is refused before it starts: a real status, not an SSE error
        streamed = chat(servers.urls[1], key, stream=True)
        assert streamed.status_code == 429 and streamed.headers["retry-after"]
    assert send(servers.urls[1], CONFIG_KEY).status_code == 200  # a configured key has no limits


def test_concurrency_1_refuses_a_second_request_while_the_first_is_in_flight(servers: Servers) -> None:
    key = servers.create("--concurrency", "1")
    headers = {"Authorization": f"Bearer {key}"}
    body = {"model": "deepseek-chat", "messages": [{"role": "user", "content": SLOW}], "stream": True}
    with httpx.stream(
        "POST", servers.urls[0] + "/v1/chat/completions", json=body, headers=headers, timeout=30
    ) as slow:
        assert slow.status_code == 200
        lines = slow.iter_lines()
        assert any(line.startswith("data: {") for line in lines)  # in flight, stalled upstream
        for dialect, send in DIALECTS.items():
            refused = send(servers.urls[1], key)
            assert refused.status_code == 429 and refused.headers["retry-after"], dialect
            kind, message = error_of(refused, dialect)
            assert kind == "rate_limit_error" and "concurrency limit" in message
        assert any(line == "data: [DONE]" for line in lines)
    assert chat(servers.urls[1], key).status_code == 200  # its place is free again


@pytest.mark.parametrize(
    ("dialect", "refused", "allowed"),
    [
        ("chat", "deepseek-v4-pro", "deepseek-v4-flash-search"),
        ("responses", "deepseek-v4-pro", "deepseek-v4-flash"),
        ("messages", "claude-opus-4-1", "claude-sonnet-4-5"),  # answered by deepseek-v4-pro / -flash
    ],
)
def test_models_refuses_another_model_with_403(
    servers: Servers, dialect: str, refused: str, allowed: str
) -> None:
    key = servers.create("--models", "deepseek-v4-flash*")
    send = DIALECTS[dialect]
    response = send(servers.urls[0], key, model=refused)
    assert response.status_code == 403, response.text
    kind, message = error_of(response, dialect)
    assert kind == "permission_error" and refused in message and "deepseek-v4-flash*" in message
    if dialect != "messages":
        assert response.json()["error"]["code"] == "model_not_allowed"
    assert send(servers.urls[1], key, model=allowed).status_code == 200


def test_revoke_refuses_the_key_at_once_on_both_servers(servers: Servers) -> None:
    key = servers.create()
    assert chat(servers.urls[0], key).status_code == 200
    servers.keys("revoke", servers.name_of(key))
    for url in servers.urls:
        for dialect, send in DIALECTS.items():
            refused = send(url, key)
            assert refused.status_code == 401, dialect
            assert "was revoked" in error_of(refused, dialect)[1]


def test_an_expired_key_is_refused(servers: Servers) -> None:
    key = servers.create("--expires", "0.00002")  # 1.7 s
    time.sleep(2)
    refused = chat(servers.urls[0], key)
    assert refused.status_code == 401 and "was expired" in refused.json()["error"]["message"]


def test_tokens_per_day_refuses_until_midnight_utc(servers: Servers) -> None:
    key = servers.create("--tokens-per-day", "1")
    assert chat(servers.urls[0], key).status_code == 200  # nothing used yet today
    refused = chat(servers.urls[1], key)
    assert refused.status_code == 429
    until_midnight = 86400 - time.time() % 86400
    assert abs(int(refused.headers["retry-after"]) - until_midnight) < 10
    assert refused.json()["error"]["code"] == "tokens_per_day_limit_exceeded"


def test_usage_is_counted_per_key_and_account_and_listed(servers: Servers) -> None:
    key = servers.create()
    assert chat(servers.urls[0], key, text="count me").status_code == 200
    assert messages(servers.urls[1], key, text="and me").status_code == 200
    name = servers.name_of(key)
    row = next(line for line in servers.keys("list").splitlines() if line.startswith(name + " "))
    found = re.search(r"no limits +(\d+) +(\d+) +(20\d\d-\d\d-\d\d \d\d:\d\d UTC)$", row)
    assert found, row
    assert int(found[1]) == 2 and int(found[2]) > 10  # requests today, input + output tokens today
    rows = usage_rows(servers.env, name)
    assert sum(r.requests for r in rows) == 2 and all(r.account_id and r.output_tokens for r in rows)


def usage_rows(env: dict[str, str], name: str) -> list[UsageRow]:
    async def main() -> list[UsageRow]:
        url = env.get("DEEPSEEK_FREE_API_STORE_URL", "")
        async with await open_stores(url, env["DEEPSEEK_FREE_API_SERVER_DATA_DIR"]) as stores:
            return await stores.usage.rows(principal=name)

    return asyncio.run(main())


def test_keys_and_usage_survive_a_restart_with_the_default_sqlite_store(tmp_path: Path) -> None:
    with BackgroundServer(create_simulator(simulator_config())) as simulator:
        env = clean_env(
            DEEPSEEK_FREE_API_SERVER_DATA_DIR=str(tmp_path / "data"),
            DEEPSEEK_FREE_API_UPSTREAM_BASE_URL=simulator.url,
            DEEP_SEEK_CHAT_AUTHORIZATION=",".join(TOKENS),
        )
        port = free_port()
        key = run_keys("create", "--name", "kept", "--rpm", "3", env=env).stdout.strip()
        with running([*CLI, "serve", "--port", str(port)], port, env=env) as first:
            assert chat(first.url, key).status_code == 200
            assert chat(first.url, key).status_code == 200
        with running([*CLI, "serve", "--port", str(port)], port, env=env) as again:
            assert chat(again.url, key).status_code == 200
            refused = chat(again.url, key)  # the rpm window outlived the restart too
            assert refused.status_code == 429
        listed = run_keys("list", env=env).stdout.splitlines()[1]
        assert re.search(r"rpm 3 +3 +\d+ +20", listed), listed
        assert "sk-" + key[3:7] in listed
