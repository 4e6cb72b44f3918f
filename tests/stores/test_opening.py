"""``store.url``: its forms, the default SQLite file (private, WAL), and clear errors."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from pathlib import Path

import pytest

from deepseek_free_api.background import free_port
from deepseek_free_api.stores import StoreError, open_stores, parse_store_url


def test_the_default_is_a_sqlite_file_in_the_data_directory(tmp_path: Path) -> None:
    for url in ("", "sqlite://", " sqlite:/// "):
        location = parse_store_url(url, tmp_path / "data")
        assert (location.backend, location.path, location.shared) == (
            "sqlite",
            tmp_path / "data" / "state.sqlite3",
            True,
        )
    assert parse_store_url("sqlite:///state.db", "ignored").path == Path("state.db")
    assert parse_store_url("sqlite:////var/lib/x/state.db", "ignored").path == Path("/var/lib/x/state.db")
    memory = parse_store_url("memory://", tmp_path)
    assert (memory.backend, memory.shared) == ("memory", False)


def test_a_redis_url_keeps_its_prefix_apart_and_never_shows_its_password() -> None:
    location = parse_store_url("redis://:hunter2-secret@cache.internal:6380/3?prefix=prod:", "data")
    assert (location.backend, location.prefix) == ("redis", "prod:")
    assert "prefix" not in location.url and location.url.startswith("redis://")
    assert "hunter2" not in location.describe() and "hunter2" not in repr(location)
    assert location.describe() == "redis://cache.internal:6380/3 (prefix 'prod:')"
    assert parse_store_url("redis://localhost", "data").prefix == "deepseek-free-api:"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgres://db/x", "expected memory://, sqlite:///PATH or redis://HOST:PORT/DB"),
        ("sqlite://relative.db", "sqlite:///RELATIVE/PATH"),
        ("memory://somewhere", "takes no path"),
        ("redis:///0", "needs a host"),
        ("redis://localhost/zero", "database is a number"),
    ],
)
def test_a_bad_url_is_an_error_that_says_what_is_expected(url: str, message: str) -> None:
    with pytest.raises(StoreError, match="store.url") as caught:
        parse_store_url(url, "data")
    assert message in str(caught.value)


def test_the_sqlite_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "data"

    async def main() -> None:
        async with await open_stores("", data_dir) as stores:
            await stores.usage.record("p", "a")

    asyncio.run(main())
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for path in data_dir.iterdir():  # the file, and -wal / -shm if still there
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    with sqlite3.connect(data_dir / "state.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_file_that_cannot_be_opened_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the directory should be")
    with pytest.raises(StoreError, match="cannot open the SQLite store"):
        asyncio.run(open_stores("", tmp_path / "data"))
    (tmp_path / "junk.db").write_bytes(b"not a database" * 100)
    with pytest.raises(StoreError, match="cannot open the SQLite store"):
        asyncio.run(open_stores(f"sqlite:///{tmp_path}/junk.db", tmp_path))


def test_an_unreachable_redis_is_a_store_error_without_the_password() -> None:
    url = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    with pytest.raises(StoreError, match="cannot reach the Redis store") as caught:
        asyncio.run(open_stores(url, "data"))
    assert "hunter2" not in str(caught.value)
