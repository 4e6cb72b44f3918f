"""``ReuseStore`` on each backend: reusable sessions by conversation digest (``chat.resume``).

One concern across the three backends, kept apart from the larger backend modules: a bounded map
from a digest to a small record, each entry for at most a TTL, the oldest written evicted first.
Shared by every process of a SQLite file or a Redis database, so one process goes on in a session
another process started. ``take`` is a test-and-set in one step of the backend (the event loop,
one ``BEGIN IMMEDIATE`` transaction, one Lua script): of two requests, even in two processes, that
extend the same answer at once, one goes on from it. A taken entry stays until its TTL (or a
newer ``keep``) as a tombstone, so the others know the answer was taken rather than never kept.
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
        expires_at = self._clock() + self._limits.ttl_s
        self._items[session.key] = replace(session, expires_at=expires_at, taken=False)
        while len(self._items) > self._limits.max_count:
            self._items.popitem(last=False)

    async def find(self, key: str) -> ReusableSession | None:
        session = self._items.get(key)
        if session is not None and session.expires_at <= self._clock():
            del self._items[key]
            return None
        return session

    async def take(self, key: str) -> ReusableSession | None:
        session = await self.find(key)  # no await inside: nothing runs between the look and the mark
        if session is not None and not session.taken:
            self._items[key] = replace(session, taken=True)  # in place: its age in the bound stays
        return session


# Every this many keeps (by row id, whichever process), the SQLite table drops its dead rows.
_PRUNE_EVERY = 64


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
            rowid = db.execute(
                "INSERT OR REPLACE INTO reuse VALUES (?, ?, ?, ?)",
                (session.key, session.reply_id, session.tokens, now + limits.ttl_s),
            ).lastrowid
            # Rows past the bound or their TTL are invisible already (``_row``); they are deleted
            # by every ``_PRUNE_EVERY``-th keep of any process, not by each (two statements fewer
            # in a turn's keep), so the table holds at most ``max_count + _PRUNE_EVERY`` rows.
            if rowid is not None and rowid % _PRUNE_EVERY == 0:
                db.execute("DELETE FROM reuse WHERE expires_at <= ?", (now,))
                db.execute("DELETE FROM reuse WHERE rowid <= ?", (rowid - limits.max_count,))

        await self._db.write(work, inline=True)

    async def find(self, key: str) -> ReusableSession | None:
        return await self._db.read(lambda db: self._row(db, key), inline=True)

    async def take(self, key: str) -> ReusableSession | None:
        found = await self.find(key)
        if found is None or found.taken:
            return found  # nothing to take: a miss costs a read, as before, not the write lock

        def work(db: sqlite3.Connection) -> ReusableSession | None:
            session = self._row(db, key)
            if session is not None and not session.taken:
                # A blank reply id marks it taken (the table has no column for it; none is needed:
                # nobody may go on from a taken answer). UPDATE keeps its rowid, so its age.
                db.execute("UPDATE reuse SET reply_id = '' WHERE key = ?", (key,))
            return session

        # BEGIN IMMEDIATE: looked at again, no process in between
        return await self._db.write(work, inline=True)

    def _row(self, db: sqlite3.Connection, key: str) -> ReusableSession | None:
        row = db.execute(
            "SELECT reply_id, tokens, expires_at FROM reuse WHERE key = ? AND expires_at > ? "
            "AND rowid > (SELECT MAX(rowid) FROM reuse) - ?",
            (key, self._clock(), self._limits.max_count),
        ).fetchone()
        if row is None:
            return None
        return ReusableSession(key, row[0], int(row[1]), float(row[2]), taken=row[0] == "")


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


# KEYS: the record. Returns it as it was; marks it taken (keeping its TTL) if it was not. PTTL, not
# SET's KEEPTTL: that needs Redis 6.
_TAKE = """
local raw = redis.call('GET', KEYS[1])
if not raw then
  return false
end
local record = cjson.decode(raw)
if not record['taken'] then
  record['taken'] = true
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then
    redis.call('SET', KEYS[1], cjson.encode(record), 'PX', ttl)
  else
    redis.call('SET', KEYS[1], cjson.encode(record))
  end
end
return raw
"""


class RedisReuse:
    """``ReuseStore`` in Redis: keys expiring by the server clock, one sorted set bounds them."""

    def __init__(self, client: Redis, prefix: str, limits: ReuseLimits) -> None:
        self._r = client
        self._records = prefix + "reuse:"
        self._keys = [prefix + "reuse-order", prefix + "reuse-seq"]
        self._limits = limits
        self._keep = client.register_script(_KEEP)
        self._take = client.register_script(_TAKE)

    async def keep(self, session: ReusableSession) -> None:
        limits = self._limits
        record = orjson.dumps(
            {"reply_id": session.reply_id, "tokens": session.tokens, "expires_at": time.time() + limits.ttl_s}
        )
        ttl_ms = max(1, int(limits.ttl_s * 1000))
        await self._keep(keys=self._keys, args=[self._records, session.key, record, ttl_ms, limits.max_count])

    async def find(self, key: str) -> ReusableSession | None:
        return _record(key, await self._r.get(self._records + key))

    async def take(self, key: str) -> ReusableSession | None:
        return _record(key, await self._take(keys=[self._records + key]))


def _record(key: str, raw: bytes | str | None) -> ReusableSession | None:
    if raw is None:
        return None
    data = orjson.loads(raw)
    return ReusableSession(
        key, str(data["reply_id"]), int(data["tokens"]), float(data["expires_at"]), bool(data.get("taken"))
    )
