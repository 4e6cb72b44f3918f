"""CPU of one turn's calls to the SQLite store, as the server makes them now and as it made them before.

A streamed turn makes these store calls (counted on the server in front of the simulator, with a
counting wrapper on ``Database._try_inline``), all inline on the event loop:

- ``now``: lease acquire, note of the generation, the reuse keep (one statement; the table is
  pruned every 64th keep), the account's record read, written and the lease released in one
  transaction (``AccountStore.amend``), usage: five transactions;
- ``before``: the sequence of 8b13fd6 on today's store code: acquire, note, the reuse keep (three
  statements: expired rows, the row, rows past the bound), the record read, its report, the
  release, usage: six transactions and a read. (What changed inside acquire, usage and the record
  parse shows only against the old tree: ``bench/table.py --compare``.)

Both run in a loop on one SQLite file each, uncontended, in interleaved rounds; it prints the
process's CPU and wall time per turn. In the server each transaction runs "cold" (after the loop
did other work or slept), where its fixed cost (file locks, WAL frames, commit) is several times
that of a tight loop: ``--gap-ms`` sleeps that long between turns to show it.

    .venv/bin/python bench/store_calls.py [--turns 2000] [--rounds 5] [--gap-ms 0]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import anyio

from common import cpu_and_wall
from deepseek_free_api.stores import sqlite_file
from deepseek_free_api.stores.protocols import (
    AccountRecord,
    Lease,
    ReusableSession,
    ReuseLimits,
    StoreOptions,
)
from deepseek_free_api.stores.reuse import SqliteReuse
from deepseek_free_api.stores.sqlite import SqliteAccounts, SqliteLeases, SqliteUsage

Ending = Callable[[int, Lease], Awaitable[None]]


def _used(record: AccountRecord | None, account_id: str) -> AccountRecord:
    """What a turn's report changes (as ``records.with_health`` does): counters and times."""
    base = record or AccountRecord(account_id)
    return replace(base, successes=base.successes + 1, last_used_at=time.time())


async def turns(folder: Path, count: int, gap_s: float, how: str) -> tuple[float, float]:
    """CPU and wall seconds per turn for ``count`` turns made ``how``, on a new file in ``folder``."""
    database = sqlite_file.Database(folder / f"state-{time.monotonic_ns()}.db")
    options = StoreOptions()
    leases, accounts, usage = (
        SqliteLeases(database, options),
        SqliteAccounts(database),
        SqliteUsage(database, options),
    )
    reuse = SqliteReuse(database, ReuseLimits())

    async def keep_before(i: int) -> None:
        def work(db: sqlite3.Connection) -> None:
            now = time.time()
            db.execute("DELETE FROM reuse WHERE expires_at <= ?", (now,))
            row = (f"key-{i}", "s@2", 10, now + 86400)
            db.execute("INSERT OR REPLACE INTO reuse VALUES (?, ?, ?, ?)", row)
            db.execute("DELETE FROM reuse WHERE rowid <= (SELECT MAX(rowid) FROM reuse) - ?", (10_000,))

        await database.write(work, inline=True)

    async def end_before(i: int, lease: Lease) -> None:
        await keep_before(i)
        record = _used(await accounts.get(lease.account_id), lease.account_id)
        await accounts.report(lease, record)
        await leases.release(lease)

    async def end_now(i: int, lease: Lease) -> None:
        await reuse.keep(ReusableSession(f"key-{i}", "s@2", 10))
        await accounts.amend(lease, lambda stored: _used(stored, lease.account_id), release_pause_s=0.0)

    end: Ending = end_now if how == "now" else end_before
    try:
        cpu, wall, slept = time.process_time(), time.perf_counter(), 0.0
        for i in range(count):
            lease = await leases.acquire([f"account-{i % 50}"], "bench", 30.0)
            assert lease is not None
            noted = await leases.note_generation(lease, f"session-{i}", i)
            assert noted is not None
            await end(i, noted)
            await usage.record("caller", lease.account_id, input_tokens=10, output_tokens=20)
            if gap_s:
                started = time.perf_counter()
                time.sleep(gap_s)
                slept += time.perf_counter() - started
        return (time.process_time() - cpu) / count, (time.perf_counter() - wall - slept) / count
    finally:
        database.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gap-ms", type=float, default=0.0, help="sleep between turns (cold calls)")
    args = parser.parse_args()
    figures: dict[str, list[tuple[float, float]]] = {"now": [], "before": []}
    with tempfile.TemporaryDirectory(prefix="dsfa-store-calls-") as folder:
        for round_ in range(args.rounds):
            for how in ("now", "before") if round_ % 2 == 0 else ("before", "now"):
                figures[how].append(anyio.run(turns, Path(folder), args.turns, args.gap_ms / 1000, how))
    gap = f", {args.gap_ms:g} ms asleep between turns (not counted)" if args.gap_ms else ""
    print(f"{args.turns} turns x {args.rounds} rounds{gap}; per turn, median (min..max) over rounds")
    for how, values in figures.items():
        print(cpu_and_wall(how, values, width=7))
    now, before = (statistics.median(c for c, _ in figures[how]) for how in ("now", "before"))
    ratio = now / before
    print(f"  now / before CPU: {ratio:.2f}")


if __name__ == "__main__":
    main()
