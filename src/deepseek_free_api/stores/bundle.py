"""``open_stores``: every store of one backend, chosen by ``store.url``, opened and closed together.

| ``store.url`` | backend |
|---|---|
| empty or ``sqlite://`` | SQLite file ``state.sqlite3`` in ``server.data_dir`` (the default) |
| ``sqlite:///state.db`` / ``sqlite:////var/lib/dsfa/state.db`` | SQLite file, relative / absolute path |
| ``redis://[:PASSWORD@]HOST:PORT/DB[?prefix=NAME:]`` (or ``rediss://``) | Redis, several hosts |
| ``memory://`` | this process only, lost at exit (tests) |
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio.to_thread

from .protocols import (
    AccountStore,
    ConversationStore,
    KeyStore,
    LeaseStore,
    RateStore,
    ResponseStore,
    ReuseStore,
    StoreError,
    StoreOptions,
    UsageStore,
)

DEFAULT_FILE = "state.sqlite3"
REDIS_CONNECTIONS = 64  # per process; a command waits for a free one
REDIS_POOL_WAIT_S = 20.0
Backend = Literal["memory", "sqlite", "redis"]


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """Where ``store.url`` points: the backend and its file or server."""

    backend: Backend
    path: Path | None = None  # SQLite
    url: str = field(default="", repr=False)  # Redis, without our ``prefix`` parameter
    prefix: str = ""  # Redis key prefix

    @property
    def shared(self) -> bool:
        """Whether other processes can share this store (anything but memory)."""
        return self.backend != "memory"

    def describe(self) -> str:
        """The location for logs and messages, with any password masked."""
        if self.backend == "memory":
            return "memory://"
        if self.backend == "sqlite":
            return f"sqlite file {self.path}"
        parts = urlsplit(self.url)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path or '/0'} (prefix {self.prefix!r})"


def parse_store_url(url: str, data_dir: str | Path) -> StoreLocation:
    """The location ``url`` names; StoreError saying what is wrong otherwise."""
    text = url.strip()
    if text in ("", "sqlite://", "sqlite:///"):
        return StoreLocation("sqlite", Path(data_dir) / DEFAULT_FILE)
    scheme = text.partition("://")[0].lower()
    if text == "memory://" or scheme == "memory":
        if text.rstrip("/") != "memory:":
            raise StoreError("store.url: memory:// takes no path")
        return StoreLocation("memory")
    if scheme == "sqlite":
        if not text.startswith("sqlite:///"):
            raise StoreError(
                "store.url: a SQLite store is sqlite:///RELATIVE/PATH or sqlite:////ABSOLUTE/PATH"
            )
        return StoreLocation("sqlite", Path(text.removeprefix("sqlite:///")))
    if scheme in ("redis", "rediss"):
        return _redis_location(text)
    raise StoreError("store.url: expected memory://, sqlite:///PATH or redis://HOST:PORT/DB")


def _redis_location(text: str) -> StoreLocation:
    from .redis import DEFAULT_PREFIX

    parts = urlsplit(text)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((value for name, value in query if name == "prefix"), DEFAULT_PREFIX)
    rest = urlencode([(name, value) for name, value in query if name != "prefix"])
    if not parts.hostname:
        raise StoreError("store.url: a Redis store needs a host (redis://HOST:PORT/DB)")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise StoreError("store.url: the Redis database is a number (redis://HOST:PORT/0)")
    return StoreLocation("redis", url=urlunsplit(parts._replace(query=rest)), prefix=prefix)


@dataclass(frozen=True, slots=True)
class Stores:
    """Every store of one backend; ``aclose()`` (or ``async with``) releases its connections."""

    location: StoreLocation
    leases: LeaseStore
    accounts: AccountStore
    keys: KeyStore
    usage: UsageStore
    rates: RateStore
    conversations: ConversationStore
    responses: ResponseStore
    reuse: ReuseStore
    closer: Callable[[], Awaitable[None]] = field(repr=False)

    async def aclose(self) -> None:
        """Close the backend's connections."""
        await self.closer()

    async def __aenter__(self) -> Stores:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


async def open_stores(url: str, data_dir: str | Path, *, options: StoreOptions | None = None) -> Stores:
    """Open the stores ``url`` names (see the module docstring); StoreError if that fails."""
    location = parse_store_url(url, data_dir)
    options = options or StoreOptions()
    if location.backend == "memory":
        return _memory(location, options)
    if location.backend == "sqlite":
        return await _sqlite(location, options)
    return await _redis(location, options)


def _memory(location: StoreLocation, options: StoreOptions) -> Stores:
    from . import memory, reuse

    leases = memory.MemoryLeases()

    async def close() -> None:
        return None

    return Stores(
        location,
        leases,
        memory.MemoryAccounts(leases),
        memory.MemoryKeys(),
        memory.MemoryUsage(options),
        memory.MemoryRates(),
        memory.MemoryConversations(options),
        memory.MemoryResponses(options.responses),
        reuse.MemoryReuse(options.reuse),
        close,
    )


async def _sqlite(location: StoreLocation, options: StoreOptions) -> Stores:
    from . import reuse, sqlite, sqlite_chats, sqlite_file

    assert location.path is not None
    database = await anyio.to_thread.run_sync(sqlite_file.Database, location.path)

    async def close() -> None:
        await anyio.to_thread.run_sync(database.close)

    return Stores(
        location,
        sqlite.SqliteLeases(database, options),
        sqlite.SqliteAccounts(database),
        sqlite.SqliteKeys(database),
        sqlite.SqliteUsage(database, options),
        sqlite.SqliteRates(database),
        sqlite_chats.SqliteConversations(database, options),
        sqlite_chats.SqliteResponses(database, options.responses),
        reuse.SqliteReuse(database, options.reuse),
        close,
    )


async def _redis(location: StoreLocation, options: StoreOptions) -> Stores:
    from redis.asyncio import BlockingConnectionPool, Redis
    from redis.exceptions import RedisError

    from . import redis as backend
    from . import reuse

    # redis-py's default pool refuses a command once 100 connections are busy (MaxConnectionsError,
    # seen with 200 concurrent streams): wait for a free connection instead, for a bounded time.
    pool = BlockingConnectionPool.from_url(
        location.url, max_connections=REDIS_CONNECTIONS, timeout=REDIS_POOL_WAIT_S, decode_responses=False
    )
    client = Redis.from_pool(pool)  # closing the client closes the pool
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        raise StoreError(f"cannot reach the Redis store at {location.describe()}: {exc}") from exc
    prefix = location.prefix
    leases = backend.RedisLeases(client, prefix)

    async def close() -> None:
        await leases.close()
        await client.aclose()

    return Stores(
        location,
        leases,
        backend.RedisAccounts(client, prefix, leases),
        backend.RedisKeys(client, prefix),
        backend.RedisUsage(client, prefix, options),
        backend.RedisRates(client, prefix),
        backend.RedisConversations(client, prefix, options),
        backend.RedisResponses(client, prefix, options.responses),
        reuse.RedisReuse(client, prefix, options.reuse),
        close,
    )
