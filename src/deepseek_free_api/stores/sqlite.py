"""The SQLite backend (``sqlite:///PATH``, the default): one file, shared by the processes of one machine.

Each store's change is one transaction of ``sqlite_file.Database``; lease times use this
machine's wall clock, which every process using the file shares. The stores of the accounts and
the callers are here; those of what conversations leave behind are in ``sqlite_chats.py``.
"""

from __future__ import annotations

import hmac
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import replace
from typing import Any

import anyio

from .codec import dump, load_account, load_key
from .protocols import (
    AccountRecord,
    KeyExistsError,
    KeyLimits,
    Lease,
    LeaseSlot,
    Orphan,
    RecordChange,
    ServiceKey,
    StoreOptions,
    UsageRow,
    UsageTotals,
    key_digest,
    key_prefix,
    new_service_key,
    utc_day,
)
from .sqlite_file import Database, bump, marks

Clock = Callable[[], float]


_LEASE_COLUMNS = (
    "account_id, owner, fence, acquired_at, expires_at, session_id, message_id, released, free_at"
)


_NEW_LEASE = (
    "INSERT INTO leases (owner, fence, acquired_at, expires_at, account_id, session_id, message_id, "
    "released, free_at) VALUES (?, ?, ?, ?, ?, NULL, NULL, 0, 0)"
)
_NEXT_LEASE = (
    "UPDATE leases SET owner = ?, fence = ?, acquired_at = ?, expires_at = ?, session_id = NULL, "
    "message_id = NULL, released = 0, free_at = 0 WHERE account_id = ?"
)

# Candidates read per statement by ``acquire``.
_ACQUIRE_CHUNK = 4
# A lease still held by its holder (parameters: account id, fence, now): renewals, notes, reports
# and releases act only on it.
_LIVE = "account_id = ? AND fence = ? AND released = 0 AND expires_at > ?"


def _chunks(wanted: list[str]) -> Iterator[list[str]]:
    """The first candidate, then the rest ``_ACQUIRE_CHUNK`` at a time."""
    yield wanted[:1]
    for first in range(1, len(wanted), _ACQUIRE_CHUNK):
        yield wanted[first : first + _ACQUIRE_CHUNK]


def _lease(row: Sequence[Any]) -> Lease:
    return Lease(row[0], row[1], row[2], row[3], row[4], row[5], row[6])


class SqliteLeases:
    """``LeaseStore`` in the SQLite file."""

    def __init__(self, database: Database, options: StoreOptions, clock: Clock = time.time) -> None:
        self._db = database
        self._poll_s = options.poll_s
        self._clock = clock

    async def acquire(self, candidates: Sequence[str], owner: str, ttl_s: float) -> Lease | None:
        wanted = list(dict.fromkeys(candidates))
        if not wanted:
            return None

        def work(db: sqlite3.Connection) -> Lease | None:
            now = self._clock()
            # A few candidates at a time, in order: the first is nearly always free (the pool asks
            # for the accounts it sees free first), and reading all of them (1,000 accounts) for
            # every lease costs more than the rest of the call. The first alone: an IN list of one
            # is a plain index lookup, one of four builds a small temporary index (35 us against
            # 18 us cold, measured 2026-12-05).
            for chunk in _chunks(wanted):
                query = f"SELECT {_LEASE_COLUMNS} FROM leases WHERE account_id IN ({marks(len(chunk))})"
                rows = {row[0]: row for row in db.execute(query, chunk)}
                for account_id in chunk:
                    row = rows.get(account_id)
                    orphan = None
                    if row is not None:
                        released, free_at, expires_at = row[7], row[8], row[4]
                        if free_at > now or (not released and expires_at > now):
                            continue
                        if not released and row[5] is not None:
                            orphan = Orphan(row[5], row[6], row[1], row[2])
                    fence = bump(db, "fence")
                    values = (owner, fence, now, now + ttl_s, account_id)
                    if row is None:
                        db.execute(_NEW_LEASE, values)
                    else:  # in place: a REPLACE would also rewrite the primary key's index page
                        db.execute(_NEXT_LEASE, values)
                    return Lease(account_id, owner, fence, now, now + ttl_s, orphan=orphan)
            return None

        return await self._db.write(work, inline=True)

    def _update_live(
        self, lease: Lease, assignments: str, values: Sequence[Any]
    ) -> Callable[..., Lease | None]:
        def work(db: sqlite3.Connection) -> Lease | None:
            row = db.execute(
                f"UPDATE leases SET {assignments} WHERE {_LIVE} RETURNING {_LEASE_COLUMNS}",
                (*values, lease.account_id, lease.fence, self._clock()),
            ).fetchone()
            return None if row is None else _lease(row)

        return work

    async def renew(self, lease: Lease, ttl_s: float) -> Lease | None:
        work = self._update_live(lease, "expires_at = ?", (self._clock() + ttl_s,))
        return await self._db.write(work, inline=True)

    async def renew_all(self, leases: Sequence[Lease], ttl_s: float) -> list[Lease | None]:
        if not leases:
            return []

        def work(db: sqlite3.Connection) -> list[Lease | None]:
            until = self._clock() + ttl_s
            return [self._update_live(lease, "expires_at = ?", (until,))(db) for lease in leases]

        return await self._db.write(work, inline=True)

    async def note_generation(self, lease: Lease, session_id: str, message_id: int | None) -> Lease | None:
        work = self._update_live(lease, "session_id = ?, message_id = ?", (session_id, message_id))
        return await self._db.write(work, inline=True)

    async def release(self, lease: Lease, *, pause_s: float = 0.0) -> bool:
        return await self._db.write(lambda db: _end(db, lease, pause_s, self._clock()), inline=True)

    async def slots(self, account_ids: Collection[str] | None = None) -> list[LeaseSlot]:
        ids = None if account_ids is None else list(account_ids)

        def work(db: sqlite3.Connection) -> list[LeaseSlot]:
            now = self._clock()
            if ids is None:
                rows = db.execute(f"SELECT {_LEASE_COLUMNS} FROM leases ORDER BY account_id").fetchall()
            else:
                query = f"SELECT {_LEASE_COLUMNS} FROM leases WHERE account_id IN ({marks(len(ids))})"
                found = {row[0]: row for row in db.execute(query, ids)}
                rows = [found[i] if i in found else (i, "", 0, 0.0, 0.0, None, None, 1, 0.0) for i in ids]
            return [
                LeaseSlot(row[0], _lease(row) if not row[7] and row[4] > now else None, row[8])
                for row in rows
            ]

        return await self._db.read(work, inline=True)

    async def wait_released(self, since: int, timeout_s: float) -> int:
        def count(db: sqlite3.Connection) -> int:
            return int(db.execute("SELECT value FROM meta WHERE name = 'released'").fetchone()[0])

        # Other processes cannot signal this one: look every poll_s (one indexed read).
        with anyio.move_on_after(timeout_s):
            while (value := await self._db.read(count, inline=True)) == since:
                await anyio.sleep(self._poll_s)
            return value
        return await self._db.read(count, inline=True)


def _end(db: sqlite3.Connection, lease: Lease, pause_s: float, now: float) -> bool:
    """Release ``lease`` if it is live (``LeaseStore.release``), inside the caller's transaction."""
    done = db.execute(
        f"UPDATE leases SET released = 1, free_at = ? WHERE {_LIVE} RETURNING 1",
        (now + pause_s, lease.account_id, lease.fence, now),
    ).fetchone()
    if done is None:
        return False
    bump(db, "released")
    return True


def _live(db: sqlite3.Connection, lease: Lease, now: float) -> bool:
    """Whether ``lease`` is live, inside the caller's transaction."""
    row = db.execute(f"SELECT 1 FROM leases WHERE {_LIVE}", (lease.account_id, lease.fence, now)).fetchone()
    return row is not None


class SqliteAccounts:
    """``AccountStore`` in the SQLite file; a report checks the lease in the same transaction."""

    def __init__(self, database: Database, clock: Clock = time.time) -> None:
        self._db = database
        self._clock = clock
        # The last text read or written per account, with its record: a record read back as this
        # process wrote it (every turn's amend, every sync) is not parsed again. Records are
        # immutable; a text that differs (another writer) is parsed. One entry per account.
        self._parsed: dict[str, tuple[str, AccountRecord]] = {}

    def _load(self, account_id: str, text: str) -> AccountRecord:
        known = self._parsed.get(account_id)
        if known is not None and known[0] == text:
            return known[1]
        record = load_account(text)
        self._parsed[account_id] = (text, record)
        return record

    async def get(self, account_id: str) -> AccountRecord | None:
        row = await self._db.read(
            lambda db: db.execute("SELECT record FROM accounts WHERE id = ?", (account_id,)).fetchone(),
            inline=True,
        )
        return None if row is None else self._load(account_id, row[0])

    async def all(self) -> list[AccountRecord]:
        rows = await self._db.read(
            lambda db: db.execute("SELECT id, record FROM accounts ORDER BY id").fetchall()
        )
        return [self._load(row[0], row[1]) for row in rows]

    def _text(self, record: AccountRecord, now: float) -> str:
        """The record as written at ``now`` (``updated_at``), remembered as parsed."""
        written = replace(record, updated_at=now)
        text = dump(written).decode()
        self._parsed[record.id] = (text, written)
        return text

    def _put(self, db: sqlite3.Connection, record: AccountRecord) -> None:
        text = self._text(record, self._clock())
        db.execute("INSERT OR REPLACE INTO accounts (id, record) VALUES (?, ?)", (record.id, text))

    async def put(self, record: AccountRecord) -> None:
        await self._db.write(lambda db: self._put(db, record))

    async def report(self, lease: Lease, record: AccountRecord) -> bool:
        if record.id != lease.account_id:
            return False

        def work(db: sqlite3.Connection) -> bool:
            if not _live(db, lease, self._clock()):
                return False
            self._put(db, record)
            return True

        return await self._db.write(work, inline=True)

    async def amend(
        self, lease: Lease, change: RecordChange, *, release_pause_s: float | None = None
    ) -> AccountRecord | None:
        def work(db: sqlite3.Connection) -> AccountRecord | None:
            now = self._clock()
            row = db.execute("SELECT record FROM accounts WHERE id = ?", (lease.account_id,)).fetchone()
            record = change(None if row is None else self._load(lease.account_id, row[0]))
            if record.id != lease.account_id:
                return None
            # The lease is checked (and released) first: a dead lease writes nothing.
            pause = release_pause_s
            if not (_live(db, lease, now) if pause is None else _end(db, lease, pause, now)):
                return None
            text = self._text(record, now)
            if row is None:
                db.execute("INSERT INTO accounts (id, record) VALUES (?, ?)", (record.id, text))
            else:  # in place: a REPLACE would delete and insert the row and its index entry
                db.execute("UPDATE accounts SET record = ? WHERE id = ?", (text, record.id))
            return record

        return await self._db.write(work, inline=True)

    async def remove(self, account_id: str) -> bool:
        self._parsed.pop(account_id, None)
        return await self._db.write(
            lambda db: db.execute("DELETE FROM accounts WHERE id = ?", (account_id,)).rowcount > 0
        )


class SqliteKeys:
    """``KeyStore`` in the SQLite file, found by the digest's unique index."""

    def __init__(self, database: Database, clock: Clock = time.time) -> None:
        self._db = database
        self._clock = clock

    async def create(self, name: str, limits: KeyLimits) -> tuple[ServiceKey, str]:
        key = new_service_key()
        record = ServiceKey(name, key_digest(key), key_prefix(key), limits, self._clock())

        def work(db: sqlite3.Connection) -> None:
            row = db.execute("SELECT record FROM service_keys WHERE name = ?", (name,)).fetchone()
            if row is not None and load_key(row[0]).revoked_at is None:
                raise KeyExistsError(
                    f"a service key named {name!r} exists; revoke it first or pick another name"
                )
            db.execute(
                "INSERT OR REPLACE INTO service_keys (name, digest, record) VALUES (?, ?, ?)",
                (name, record.digest, dump(record).decode()),
            )

        await self._db.write(work)
        return record, key

    async def lookup(self, presented: str) -> ServiceKey | None:
        digest = key_digest(presented)
        row = await self._db.read(
            lambda db: db.execute(
                "SELECT digest, record FROM service_keys WHERE digest = ?", (digest,)
            ).fetchone(),
            inline=True,
        )
        # The index lookup is on a digest of the key, which says nothing about the key itself.
        return load_key(row[1]) if row is not None and hmac.compare_digest(row[0], digest) else None

    async def get(self, name: str) -> ServiceKey | None:
        row = await self._db.read(
            lambda db: db.execute("SELECT record FROM service_keys WHERE name = ?", (name,)).fetchone()
        )
        return None if row is None else load_key(row[0])

    async def all(self) -> list[ServiceKey]:
        rows = await self._db.read(
            lambda db: db.execute("SELECT record FROM service_keys ORDER BY name").fetchall()
        )
        return [load_key(row[0]) for row in rows]

    async def revoke(self, name: str) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            row = db.execute("SELECT record FROM service_keys WHERE name = ?", (name,)).fetchone()
            record = None if row is None else load_key(row[0])
            if record is None or record.revoked_at is not None:
                return False
            text = dump(replace(record, revoked_at=self._clock())).decode()
            db.execute("UPDATE service_keys SET record = ? WHERE name = ?", (text, name))
            return True

        return await self._db.write(work)


class SqliteUsage:
    """``UsageStore`` in the SQLite file: one upsert adds to a day's counters."""

    def __init__(self, database: Database, options: StoreOptions, clock: Clock = time.time) -> None:
        self._db = database
        self._days = options.usage_days
        self._clock = clock
        self._pruned = ""  # the day old rows were last dropped by this process

    async def record(
        self,
        principal: str,
        account_id: str,
        *,
        requests: int = 1,
        input_tokens: int = 0,
        output_tokens: int = 0,
    ) -> None:
        now = self._clock()
        day = utc_day(now)
        prune = self._pruned != day
        self._pruned = day

        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO usage VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (day, principal, account_id) DO UPDATE SET requests = requests + "
                "excluded.requests, input_tokens = input_tokens + excluded.input_tokens, "
                "output_tokens = output_tokens + excluded.output_tokens",
                (day, principal, account_id, requests, input_tokens, output_tokens),
            )
            db.execute(  # an upsert changes the row in place (a REPLACE: its index page too)
                "INSERT INTO last_used VALUES (?, ?) ON CONFLICT (principal) DO UPDATE SET at = excluded.at",
                (principal, now),
            )
            if prune:
                db.execute("DELETE FROM usage WHERE day < ?", (utc_day(now - self._days * 86400.0),))

        await self._db.write(work, inline=not prune)  # a prune may delete many rows

    async def totals(self, principal: str, day: str | None = None) -> UsageTotals:
        wanted = day or utc_day(self._clock())

        def work(db: sqlite3.Connection) -> UsageTotals:
            sums = db.execute(
                "SELECT TOTAL(requests), TOTAL(input_tokens), TOTAL(output_tokens) FROM usage "
                "WHERE day = ? AND principal = ?",
                (wanted, principal),
            ).fetchone()
            last = db.execute("SELECT at FROM last_used WHERE principal = ?", (principal,)).fetchone()
            return UsageTotals(int(sums[0]), int(sums[1]), int(sums[2]), None if last is None else last[0])

        return await self._db.read(work)

    async def rows(self, *, day: str | None = None, principal: str | None = None) -> list[UsageRow]:
        def work(db: sqlite3.Connection) -> list[UsageRow]:
            rows = db.execute(
                "SELECT * FROM usage WHERE (?1 IS NULL OR day = ?1) AND (?2 IS NULL OR principal = ?2) "
                "ORDER BY day, principal, account_id",
                (day, principal),
            )
            return [UsageRow(*row) for row in rows]

        return await self._db.read(work)


# Expired rate-limit hits deleted per call at most (two statements: any principal's, the caller's).
_PRUNE_ROWS = 500


class SqliteRates:
    """``RateStore`` in the SQLite file: the window's hits are rows, counted in one transaction."""

    def __init__(self, database: Database, clock: Clock = time.time) -> None:
        self._db = database
        self._clock = clock

    async def hit(self, principal: str, limit: int, window_s: float = 60.0) -> float | None:
        def work(db: sqlite3.Connection) -> float | None:
            now = self._clock()
            since = now - window_s
            # Expired hits go a bounded number at a time (this runs on the event loop): an hour of
            # a busy server's hits must not be deleted in one call. The count looks at the window
            # only, so hits not deleted yet never count.
            db.execute(
                "DELETE FROM rate_hits WHERE rowid IN (SELECT rowid FROM rate_hits WHERE at <= ? LIMIT ?)",
                (now - max(window_s, 3600.0), _PRUNE_ROWS),
            )
            db.execute(
                "DELETE FROM rate_hits WHERE rowid IN "
                "(SELECT rowid FROM rate_hits WHERE principal = ? AND at <= ? LIMIT ?)",
                (principal, since, _PRUNE_ROWS),
            )
            (count,) = db.execute(
                "SELECT COUNT(*) FROM rate_hits WHERE principal = ? AND at > ?", (principal, since)
            ).fetchone()
            if count >= limit:
                (oldest,) = db.execute(
                    "SELECT at FROM rate_hits WHERE principal = ? AND at > ? ORDER BY at LIMIT 1 OFFSET ?",
                    (principal, since, count - limit),
                ).fetchone()
                return max(0.0, float(oldest) + window_s - now)
            db.execute("INSERT INTO rate_hits VALUES (?, ?)", (principal, now))
            return None

        return await self._db.write(work, inline=True)

    async def enter(self, principal: str, limit: int, ticket: str, ttl_s: float) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            now = self._clock()
            db.execute("DELETE FROM tickets WHERE principal = ? AND expires_at <= ?", (principal, now))
            held = db.execute(
                "SELECT COUNT(*), TOTAL(ticket = ?) FROM tickets WHERE principal = ?", (ticket, principal)
            ).fetchone()
            if not held[1] and held[0] >= limit:
                return False
            db.execute("INSERT OR REPLACE INTO tickets VALUES (?, ?, ?)", (principal, ticket, now + ttl_s))
            return True

        return await self._db.write(work, inline=True)

    async def leave(self, principal: str, ticket: str) -> None:
        await self._db.write(
            lambda db: (
                db.execute("DELETE FROM tickets WHERE principal = ? AND ticket = ?", (principal, ticket))
                and None
            ),
            inline=True,
        )
