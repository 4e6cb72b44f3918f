"""The SQLite backend's stores of what conversations leave behind: message moves and stored Responses.

Apart from ``sqlite.py`` (leases, accounts, keys, usage, rates: the callers and the accounts) along
that seam; both use one ``sqlite_file.Database``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from .protocols import MAX_MOVE_HOPS, ResponseLimits, StoredResponse, StoreOptions
from .sqlite_file import Database

Clock = Callable[[], float]


class SqliteConversations:
    """``ConversationStore`` in the SQLite file, the newest ``max_moves`` moves (by rowid)."""

    def __init__(self, database: Database, options: StoreOptions) -> None:
        self._db = database
        self._max = options.max_moves

    async def moved(self, session_id: str, old: int, new: int) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute("INSERT OR REPLACE INTO moves VALUES (?, ?, ?)", (session_id, old, new))
            db.execute("DELETE FROM moves WHERE rowid <= (SELECT MAX(rowid) FROM moves) - ?", (self._max,))

        await self._db.write(work, inline=True)

    async def follow(self, session_id: str, message_id: int) -> int:
        def work(db: sqlite3.Connection) -> int:
            current = message_id
            for _ in range(MAX_MOVE_HOPS):
                row = db.execute(
                    "SELECT new FROM moves WHERE session_id = ? AND old = ?", (session_id, current)
                ).fetchone()
                if row is None:
                    break
                current = int(row[0])
            return current

        return await self._db.read(work, inline=True)


class SqliteResponses:
    """``ResponseStore`` in the SQLite file; ``used`` orders by last use for eviction."""

    def __init__(self, database: Database, limits: ResponseLimits, clock: Clock = time.time) -> None:
        self._db = database
        self._limits = limits
        self._clock = clock

    @property
    def limits(self) -> ResponseLimits:
        """Its bounds."""
        return self._limits

    async def put(self, response: StoredResponse) -> None:
        limits = self._limits

        def work(db: sqlite3.Connection) -> None:
            now = self._clock()
            expires_at = now + limits.ttl_s if response.expires_at is None else response.expires_at
            db.execute("DELETE FROM responses WHERE expires_at <= ?", (now,))
            db.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, "
                "(SELECT COALESCE(MAX(used), 0) + 1 FROM responses))",
                (
                    response.id,
                    response.owner,
                    response.body,
                    response.conversation,
                    response.size,
                    response.created_at or now,
                    expires_at,
                ),
            )
            db.execute(
                "DELETE FROM responses WHERE id IN (SELECT id FROM responses WHERE owner = ? "
                "ORDER BY used DESC LIMIT -1 OFFSET ?)",
                (response.owner, limits.max_per_owner),
            )
            rows = db.execute("SELECT id, size FROM responses ORDER BY used DESC").fetchall()
            total, doomed = 0, []
            for index, (response_id, size) in enumerate(rows):
                total += size
                if index > 0 and (index >= limits.max_count or total > limits.max_bytes):
                    doomed.append((response_id,))
            db.executemany("DELETE FROM responses WHERE id = ?", doomed)

        await self._db.write(work)

    async def get(self, response_id: str, owner: str) -> StoredResponse | None:
        def work(db: sqlite3.Connection) -> StoredResponse | None:
            row = db.execute(
                "UPDATE responses SET used = (SELECT MAX(used) + 1 FROM responses) "
                "WHERE id = ? AND owner = ? AND expires_at > ? "
                "RETURNING id, owner, body, conversation, created_at, expires_at",
                (response_id, owner, self._clock()),
            ).fetchone()
            return None if row is None else StoredResponse(*row)

        return await self._db.write(work)

    async def delete(self, response_id: str, owner: str) -> bool:
        return await self._db.write(
            lambda db: (
                db.execute("DELETE FROM responses WHERE id = ? AND owner = ?", (response_id, owner)).rowcount
                > 0
            )
        )
