"""``ReuseStore`` on each backend: reusable sessions by conversation digest (``chat.resume``).

One concern across the three backends, kept apart from the larger backend modules: a bounded map
from a digest to a small record, each entry for at most a TTL, the oldest written evicted first.
Shared by every process of a SQLite file or a Redis database, so one process goes on in a session
another process started.
"""

from __future__ import annotations

import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import orjson

from .protocols import ReusableSession, ReuseLimits
from .sqlite_file import Database

if TYPE_CHECKING:
    from redis.asyncio import Redis

Clock = Callable[[], float]


class MemoryReuse:
    """``ReuseStore`` in this process's memory."""

    def __init__(self, limits: ReuseLimits, clock: Clock = time.time) -> None:
        self._limits = limits
        self._clock = clock
        self._items: OrderedDict[str, ReusableSession] = OrderedDict()

    async def keep(self, session: ReusableSession) -> None:
        self._items.pop(session.key, None)
        self._items[session.key] = replace(session, expires_at=self._clock() + self._limits.ttl_s)
        while len(self._items) > self._limits.max_count:
            self._items.popitem(last=False)

    async def find(self, key: str) -> ReusableSession | None:
        session = self._items.get(key)
        if session is not None and session.expires_at <= self._clock():
            del self._items[key]
            return None
        return session


class SqliteReuse:
    """``ReuseStore`` in the SQLite file; the newest ``max_count`` rows (by rowid) are kept."""

    def __init__(self, database: Database, limits: ReuseLimits, clock: Clock = time.time) -> None:
        self._db = database
        self._limits = limits
        self._clock = clock

    async def keep(self, session: ReusableSession) -> None:
        limits = self._limits

        def work(db: sqlite3.Connection) -> None:
            now = self._clock()
            db.execute("DELETE FROM reuse WHERE expires_at <= ?", (now,))
            db.execute(
                "INSERT OR REPLACE INTO reuse VALUES (?, ?, ?, ?)",
                (session.key, session.reply_id, session.tokens, now + limits.ttl_s),
            )
            db.execute(
                "DELETE FROM reuse WHERE rowid <= (SELECT MAX(rowid) FROM reuse) - ?", (limits.max_count,)
            )

        await self._db.write(work)

    async def find(self, key: str) -> ReusableSession | None:
        def work(db: sqlite3.Connection) -> ReusableSession | None:
            row = db.execute(
                "SELECT reply_id, tokens, expires_at FROM reuse WHERE key = ? AND expires_at > ?",
                (key, self._clock()),
            ).fetchone()
            return None if row is None else ReusableSession(key, row[0], int(row[1]), float(row[2]))

        return await self._db.read(work)


# KEYS: the order (a sorted set by write sequence), the sequence. ARGV: the records' key prefix, the
# digest, the record, its TTL in ms, the count bound. Entries past the bound go, oldest first.
_KEEP = """
local seq = redis.call('INCR', KEYS[2])
redis.call('SET', ARGV[1] .. ARGV[2], ARGV[3], 'PX', ARGV[4])
redis.call('ZADD', KEYS[1], seq, ARGV[2])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[5])
if over > 0 then
  for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, over - 1)) do
    redis.call('DEL', ARGV[1] .. member)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1)
end
return seq
"""


class RedisReuse:
    """``ReuseStore`` in Redis: keys expiring by the server clock, one sorted set bounds them."""

    def __init__(self, client: Redis, prefix: str, limits: ReuseLimits) -> None:
        self._r = client
        self._records = prefix + "reuse:"
        self._keys = [prefix + "reuse-order", prefix + "reuse-seq"]
        self._limits = limits
        self._keep = client.register_script(_KEEP)

    async def keep(self, session: ReusableSession) -> None:
        limits = self._limits
        record = orjson.dumps(
            {"reply_id": session.reply_id, "tokens": session.tokens, "expires_at": time.time() + limits.ttl_s}
        )
        ttl_ms = max(1, int(limits.ttl_s * 1000))
        await self._keep(keys=self._keys, args=[self._records, session.key, record, ttl_ms, limits.max_count])

    async def find(self, key: str) -> ReusableSession | None:
        raw = await self._r.get(self._records + key)
        if raw is None:
            return None
        data = orjson.loads(raw)
        return ReusableSession(key, str(data["reply_id"]), int(data["tokens"]), float(data["expires_at"]))
