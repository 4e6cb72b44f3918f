"""``deepseek-free-api keys create|list|revoke``, run as a user runs them, on a SQLite file and on Redis."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from deepseek_free_api.stores import open_stores
from tests.support.processes import clean_env, run_keys
from tests.support.redis_server import redis_server

KEY = re.compile(r"sk-[A-Za-z0-9_-]{43}")


keys = run_keys


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(params=["sqlite", "redis"])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The environment of a user whose settings name the store (default SQLite file, or Redis)."""
    env = clean_env(DEEPSEEK_FREE_API_SERVER_DATA_DIR=str(tmp_path / "data"))
    if request.param == "redis":
        base = request.getfixturevalue("redis_url")
        env["DEEPSEEK_FREE_API_STORE_URL"] = f"{base}/0?prefix=cli-{uuid.uuid4().hex[:8]}:"
    return env


def lookup_state(env: dict[str, str], key: str) -> str | None:
    """What a server sharing the store sees for ``key``; records usage for it as a server would."""

    async def main() -> str | None:
        url = env.get("DEEPSEEK_FREE_API_STORE_URL", "")
        async with await open_stores(url, env["DEEPSEEK_FREE_API_SERVER_DATA_DIR"]) as stores:
            record = await stores.keys.lookup(key)
            if record is None:
                return None
            await stores.usage.record(record.name, "acct-1", input_tokens=30, output_tokens=12)
            return record.state(0)

    return asyncio.run(main())


def test_create_prints_the_key_once_and_list_shows_only_its_prefix(store_env: dict[str, str]) -> None:
    created = keys(
        "create", "--name", "ci-bot", "--rpm", "2", "--concurrency", "1", "--tokens-per-day", "5000",
        "--models", "deepseek-v4-*,deepseek-chat", "--expires", "30", env=store_env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert KEY.fullmatch(key), created.stdout  # the key alone on stdout: KEY=$(... keys create ...)
    assert "shown only this once" in created.stderr and key not in created.stderr
    assert lookup_state(store_env, key) == "active"

    listed = keys("list", env=store_env)
    assert listed.returncode == 0, listed.stderr
    assert key not in listed.stdout and key[3:7] in listed.stdout
    header, row = listed.stdout.strip().splitlines()
    assert header.split()[:4] == ["NAME", "KEY", "STATE", "LIMITS"]
    assert row.startswith(f"ci-bot  sk-{key[3:7]}…  active  rpm 2; concurrency 1; tokens/day 5000; ")
    assert "models deepseek-v4-*,deepseek-chat; expires 20" in row
    assert re.search(r"  1 +42 +20\d\d-\d\d-\d\d \d\d:\d\d UTC$", row), row  # usage today, last use
    if "DEEPSEEK_FREE_API_STORE_URL" not in store_env:
        data = b"".join(
            p.read_bytes() for p in Path(store_env["DEEPSEEK_FREE_API_SERVER_DATA_DIR"]).iterdir()
        )
        assert key.encode() not in data


def test_revoke_refuses_the_key_at_once_and_frees_its_name(store_env: dict[str, str]) -> None:
    first = keys("create", "--name", "alice", env=store_env).stdout.strip()
    duplicate = keys("create", "--name", "alice", env=store_env)
    assert duplicate.returncode == 1 and "exists; revoke it first" in duplicate.stderr
    revoked = keys("revoke", "alice", env=store_env)
    assert revoked.returncode == 0 and "revoked service key 'alice'" in revoked.stderr
    assert lookup_state(store_env, first) == "revoked"
    again = keys("revoke", "alice", env=store_env)
    assert again.returncode == 1 and "no active service key named 'alice'" in again.stderr
    assert "alice" in keys("list", env=store_env).stdout.splitlines()[1]
    second = keys("create", "--name", "alice", env=store_env).stdout.strip()
    assert KEY.fullmatch(second) and second != first
    assert lookup_state(store_env, second) == "active" and lookup_state(store_env, first) is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["create", "--name", "bad name"], "--name takes 1-64 letters"),
        (["create", "--name", "x", "--rpm", "0"], "argument --rpm: must be at least 1"),
        (["create", "--name", "x", "--expires", "soon"], "expected a number of days"),
        (["create", "--name", "x", "--models", " , "], "give at least one model"),
        (["create"], "the following arguments are required: --name"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(argv: list[str], message: str, tmp_path: Path) -> None:
    result = keys(*argv, env=clean_env(DEEPSEEK_FREE_API_SERVER_DATA_DIR=str(tmp_path)))
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert result.stdout == ""


def test_a_config_file_names_the_store_and_memory_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[server]\ndata_dir = "{tmp_path / "from-file"}"\n')
    env = clean_env()
    del env["DEEPSEEK_FREE_API_SERVER_DATA_DIR"]  # the file's data_dir, not the test default
    created = keys("create", "--name", "filed", "--config", str(config), env=env)
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "from-file" / "state.sqlite3").exists()
    memory = keys("list", env=clean_env(DEEPSEEK_FREE_API_STORE_URL="memory://"))
    assert memory.returncode == 2 and "memory://, which no server shares" in memory.stderr
    bad = keys("list", env=clean_env(DEEPSEEK_FREE_API_STORE_URL="postgres://x"))
    assert bad.returncode == 2 and "expected memory://, sqlite:///PATH or redis://" in bad.stderr
