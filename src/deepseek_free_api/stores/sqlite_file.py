"""The SQLite file behind the SQLite backend: its schema, and its connections.

WAL mode lets readers run beside the one writer; every change is one ``BEGIN IMMEDIATE``
transaction, so two processes never interleave inside one (the second waits up to
``busy_timeout``). ``synchronous=NORMAL``: a power cut may lose the last transactions, never the
file's consistency.

Two connections. The stdlib driver runs blocking calls in a worker thread (``anyio.to_thread``),
one call at a time; such a call is not abandoned when its caller is cancelled, so a lease taken in
it always reaches the caller (which then releases it) instead of leaking until its TTL. The small
calls of every turn (a lease, its note and release, the account's record, usage) are asked for
``inline``: they first run on the event loop itself on a second connection that never waits (busy
timeout 0), which costs a third of the thread hop's CPU (bench/store_calls.py); only when the file
is locked by another writer (another process, or this process's thread) do they go to the thread
and wait there. The inline connection never checkpoints the WAL (an fsync that would stall the
loop): every ``_CHECKPOINT_EVERY`` inline commits, one write goes through the thread and
checkpoints there.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio.to_thread

from .protocols import StoreError

T = TypeVar("T")
SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 10_000
# Inline commits between two checkpoints run in the thread (1000 pages is SQLite's own default
# auto-checkpoint; a turn's commits write a handful of pages).
_CHECKPOINT_EVERY = 200
_MISS = object()  # the inline attempt found the file locked: go to the thread

_SCHEMA = """
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('schema', 1), ('fence', 0), ('released', 0);
CREATE TABLE IF NOT EXISTS leases (
    account_id TEXT PRIMARY KEY, owner TEXT NOT NULL, fence INTEGER NOT NULL,
    acquired_at REAL NOT NULL, expires_at REAL NOT NULL, session_id TEXT, message_id INTEGER,
    released INTEGER NOT NULL, free_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (id TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS service_keys (
    name TEXT PRIMARY KEY, digest TEXT NOT NULL UNIQUE, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS usage (
    day TEXT NOT NULL, principal TEXT NOT NULL, account_id TEXT NOT NULL,
    requests INTEGER NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
    PRIMARY KEY (day, principal, account_id));
CREATE TABLE IF NOT EXISTS last_used (principal TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rate_hits (principal TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS rate_hits_by_principal ON rate_hits (principal, at);
CREATE INDEX IF NOT EXISTS rate_hits_by_time ON rate_hits (at);
CREATE TABLE IF NOT EXISTS tickets (
    principal TEXT NOT NULL, ticket TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (principal, ticket));
CREATE TABLE IF NOT EXISTS moves (
    session_id TEXT NOT NULL, old INTEGER NOT NULL, new INTEGER NOT NULL, PRIMARY KEY (session_id, old));
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, body BLOB NOT NULL, conversation BLOB NOT NULL,
    size INTEGER NOT NULL, created_at REAL NOT NULL, expires_at REAL NOT NULL, used INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS responses_by_use ON responses (used);
CREATE INDEX IF NOT EXISTS responses_by_owner ON responses (owner, used);
CREATE INDEX IF NOT EXISTS responses_by_expiry ON responses (expires_at);
CREATE TABLE IF NOT EXISTS reuse (
    key TEXT PRIMARY KEY, reply_id TEXT NOT NULL, tokens INTEGER NOT NULL, expires_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS reuse_by_expiry ON reuse (expires_at);
COMMIT;
"""


def create_private_file(path: Path) -> None:
    """Create ``path`` (and its directory) readable by this user only, unless it exists."""
    # exist_ok: processes starting together (serve --workers) create it at the same moment.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)  # SQLite gives -wal and -shm the same mode
    os.close(fd)


class Database:
    """The file's two connections: one used from worker threads, one inline that never waits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._inline_lock = threading.Lock()  # event loops of several threads (tests, the CLI)
        self._inline_commits = 0
        try:
            create_private_file(path)
            self._connection = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
            )
            # Switching a new file to WAL does not wait for another opener's lock the way other
            # statements do (SQLite returns "locked" at once): processes starting together retry.
            _unlocked(self._connection, lambda db: db.execute("PRAGMA journal_mode=WAL"))
            self._connection.execute("PRAGMA synchronous=NORMAL")
            self._connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            # One transaction: processes may start together.
            _unlocked(self._connection, lambda db: db.executescript(_SCHEMA))
            version = self._connection.execute("SELECT value FROM meta WHERE name='schema'").fetchone()[0]
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the SQLite store {path}: {exc}") from exc
        if version > SCHEMA_VERSION:
            raise StoreError(f"the SQLite store {path} was written by a newer version (schema {version})")
        try:
            self._inline = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=0)
            self._inline.execute("PRAGMA synchronous=NORMAL")
            self._inline.execute("PRAGMA wal_autocheckpoint=0")
        except sqlite3.Error as exc:
            self._connection.close()
            raise StoreError(f"cannot open the SQLite store {path}: {exc}") from exc

    def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            db = self._connection
            db.execute("BEGIN IMMEDIATE")
            try:
                result = work(db)
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            if db.in_transaction:
                db.execute("COMMIT")
            return result

    def _write_checkpointed(self, work: Callable[[sqlite3.Connection], T]) -> T:
        result = self._write(work)
        with self._lock:
            self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        return result

    def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            return work(self._connection)

    def _try_inline(self, work: Callable[[sqlite3.Connection], T], write: bool) -> T | object:
        """``work`` on the inline connection, or ``_MISS`` if that would have to wait."""
        if not self._inline_lock.acquire(blocking=False):
            return _MISS
        db = self._inline
        try:
            if write:
                db.execute("BEGIN IMMEDIATE")
            result = work(db)
            if db.in_transaction:
                db.execute("COMMIT")
            return result
        except sqlite3.OperationalError as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if "locked" in str(exc) or "busy" in str(exc):
                return _MISS  # nothing was changed: the thread runs ``work`` again
            raise
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            self._inline_lock.release()

    async def write(self, work: Callable[[sqlite3.Connection], T], *, inline: bool = False) -> T:
        """Run ``work`` in one write transaction: ``inline`` (a small one) on the loop if it need not wait."""
        if inline:
            if self._inline_commits >= _CHECKPOINT_EVERY:
                self._inline_commits = 0
                return await anyio.to_thread.run_sync(self._write_checkpointed, work)
            result = self._try_inline(work, write=True)
            if result is not _MISS:
                self._inline_commits += 1
                return result  # type: ignore[return-value]
        return await anyio.to_thread.run_sync(self._write, work)

    async def read(self, work: Callable[[sqlite3.Connection], T], *, inline: bool = False) -> T:
        """Run ``work`` (reads only): ``inline`` (a small one) on the loop if it need not wait."""
        if inline:
            result = self._try_inline(work, write=False)
            if result is not _MISS:
                return result  # type: ignore[return-value]
        return await anyio.to_thread.run_sync(self._read, work)

    def close(self) -> None:
        """Close the connections (pending calls finish first)."""
        with self._lock:
            self._connection.close()
        with self._inline_lock:
            self._inline.close()


def _unlocked(db: sqlite3.Connection, step: Callable[[sqlite3.Connection], object]) -> None:
    """Run ``step``, again while SQLite says the file is locked, for up to the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            step(db)
            return
        except sqlite3.OperationalError as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            locked = "locked" in str(exc) or "busy" in str(exc)
            if not locked or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def bump(db: sqlite3.Connection, name: str) -> int:
    """Add one to a counter in ``meta`` and return its new value."""
    row = db.execute("UPDATE meta SET value = value + 1 WHERE name = ? RETURNING value", (name,)).fetchone()
    return int(row[0])


def marks(count: int) -> str:
    """``?, ?, ?`` for an IN list."""
    return ", ".join("?" * count)
