"""CPU of one turn's calls to the SQLite store: inline on the event loop, and all through a thread.

A streamed turn makes these store calls (counted on the server in front of the simulator): lease
acquire, note of the generation, the account's record read and report, release, usage. This
runs that sequence in a loop on one SQLite file, uncontended, and prints the process's CPU and
wall time per turn, the two ways the store can make them (``stores/sqlite_file.py``), in
interleaved rounds:

- ``inline``: as the server does, on the event loop, falling back to a worker thread only when
  the file is locked;
- ``thread``: every call hops to a worker thread (the way before 2026-12-05).

    .venv/bin/python bench/store_calls.py [--turns 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import anyio

from common import cpu_and_wall
from deepseek_free_api.stores import sqlite_file
from deepseek_free_api.stores.protocols import AccountRecord, StoreOptions
from deepseek_free_api.stores.sqlite import SqliteAccounts, SqliteLeases, SqliteUsage


async def turns(folder: Path, count: int) -> tuple[float, float]:
    """CPU and wall seconds per turn for ``count`` turns on a new file in ``folder``."""
    database = sqlite_file.Database(folder / f"state-{time.monotonic_ns()}.db")
    options = StoreOptions()
    leases, accounts, usage = (
        SqliteLeases(database, options),
        SqliteAccounts(database),
        SqliteUsage(database, options),
    )
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(count):
            lease = await leases.acquire([f"account-{i % 50}"], "bench", 30.0)
            assert lease is not None
            noted = await leases.note_generation(lease, f"session-{i}", i)
            assert noted is not None
            record = await accounts.get(lease.account_id) or AccountRecord(lease.account_id)
            await accounts.report(noted, record)
            await leases.release(noted)
            await usage.record("caller", lease.account_id, input_tokens=10, output_tokens=20)
        return (time.process_time() - cpu) / count, (time.perf_counter() - wall) / count
    finally:
        database.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    inline_attempt = sqlite_file.Database._try_inline
    figures: dict[str, list[tuple[float, float]]] = {"inline": [], "thread": []}
    with tempfile.TemporaryDirectory(prefix="dsfa-store-calls-") as folder:
        for round_ in range(args.rounds):
            for mode in ("inline", "thread") if round_ % 2 == 0 else ("thread", "inline"):
                # "thread": the inline attempt always reports a locked file.
                sqlite_file.Database._try_inline = (  # type: ignore[method-assign]
                    inline_attempt if mode == "inline" else (lambda self, work, write: sqlite_file._MISS)
                )
                figures[mode].append(anyio.run(turns, Path(folder), args.turns))
    sqlite_file.Database._try_inline = inline_attempt  # type: ignore[method-assign]
    print(f"{args.turns} turns x {args.rounds} rounds; per turn, median (min..max) over rounds")
    for mode, values in figures.items():
        print(cpu_and_wall(mode, values, width=7))
    ratio = statistics.median(c for c, _ in figures["inline"]) / statistics.median(
        c for c, _ in figures["thread"]
    )
    print(f"  inline / thread CPU: {ratio:.2f}")


if __name__ == "__main__":
    main()
