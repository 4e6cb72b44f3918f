"""CPU of taking a lease as the pool grows: one matching pass, and one acquire + release on SQLite.

Two figures per pool size, each the process's CPU time per operation:

- ``pass``: the pool's matching pass for one request that takes any server account
  (``LeaseQueue._batch``), then the lease's start and end on the account it chose, as a turn
  changes them (no store call). This is the part that ranked every account on each pass.
- ``turn``: ``AccountPool.acquire`` and ``release`` on a SQLite store (``open_stores``), as one
  request at a time does; the store's own calls included.
- ``burst``: as many requests as accounts arrive at once and each gets one (memory store), per
  lease: the passes that run while others still wait.

With ``--compare NAME=SRC`` the same figures are taken from another source tree (for example the
base commit's, from ``git archive BASE src | tar -x -C /tmp/base``) in interleaved rounds, each
round a fresh process per tree, alternating which runs first.

    .venv/bin/python bench/lease_pass.py [--accounts 50,200,1000] [--rounds 5] [--compare base=/tmp/base/src]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "src"


def _accounts(count: int) -> list[Any]:
    from deepseek_free_api.accounts import Account

    return [Account.from_token(f"bench-token-{i:05d}", name=f"server-{i:05d}") for i in range(count)]


def passes(count: int, repeat: int) -> float:
    """CPU seconds per matching pass (and the chosen lease's start and end) with ``count`` accounts."""
    from deepseek_free_api.accounts import AccountPool
    from deepseek_free_api.accounts.health import LeaseRecord
    from deepseek_free_api.accounts.matching import Waiter

    clock = [100.0]
    pool = AccountPool(_accounts(count), max_waiters=10, wait_timeout_s=30, clock=lambda: clock[0])
    loop = asyncio.new_event_loop()
    try:
        start = time.process_time()
        for fence in range(1, repeat + 1):
            waiter = Waiter(None, None, False, frozenset(), 1e12, "bench", loop.create_future())
            pool._waiters.push(waiter)
            batch = pool._batch(set())
            pool._waiters.discard(waiter)
            slot = pool._slots[batch[0][1][0]]
            slot.health.begin(clock[0], LeaseRecord("bench", fence, 0.0, 0.0))
            clock[0] += 0.001
            slot.health.end(clock[0], 0.0)
        return (time.process_time() - start) / repeat
    finally:
        loop.close()


async def turns(count: int, repeat: int) -> float:
    """CPU seconds per ``acquire`` + ``release`` with ``count`` accounts on a SQLite store."""
    from deepseek_free_api.accounts import AccountPool
    from deepseek_free_api.stores import open_stores

    with tempfile.TemporaryDirectory(prefix="dsfa-lease-pass-") as folder:
        stores = await open_stores(f"sqlite:///{folder}/state.db", Path(folder))
        try:
            pool = AccountPool(
                max_waiters=10, wait_timeout_s=30, leases=stores.leases, records=stores.accounts
            )
            await pool.load(_accounts(count))
            async with pool:
                for _ in range(50):  # warm up: statements prepared, first records read
                    await pool.release(await pool.acquire())
                start = time.process_time()
                for _ in range(repeat):
                    await pool.release(await pool.acquire())
                return (time.process_time() - start) / repeat
        finally:
            await stores.aclose()


async def burst(count: int) -> float:
    """CPU seconds per lease when ``count`` requests arrive at once for ``count`` accounts and hold
    them until all have one (memory store: the pool's own work)."""
    from deepseek_free_api.accounts import AccountPool

    pool = AccountPool(_accounts(count), max_waiters=count, wait_timeout_s=60)
    async with pool:
        start = time.process_time()
        leases = await asyncio.gather(*(pool.acquire() for _ in range(count)))
        for lease in leases:
            await pool.release(lease)
        return (time.process_time() - start) / count


def child(sizes: list[int], repeat: int) -> None:
    """Measure in this process (its ``sys.path`` already points at the tree) and print JSON."""
    figures = {
        str(count): {
            "pass": passes(count, repeat * 5),
            "turn": asyncio.run(turns(count, repeat)),
            "burst": asyncio.run(burst(count)),
        }
        for count in sizes
    }
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", default="50,200,1000", help="pool sizes, comma-separated")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--turns", type=int, default=1000, help="turns per round (passes: 5x as many)")
    parser.add_argument("--compare", action="append", default=[], metavar="NAME=SRC")
    parser.add_argument("--child", metavar="SRC", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(size) for size in args.accounts.split(",")]
    if args.child:
        sys.path.insert(0, args.child)
        child(sizes, args.turns)
        return
    trees = {"this": str(SOURCE), **dict(item.split("=", 1) for item in args.compare)}
    figures: dict[str, list[dict[str, dict[str, float]]]] = {name: [] for name in trees}
    for round_ in range(args.rounds):
        order = list(trees) if round_ % 2 == 0 else list(reversed(trees))
        for name in order:
            argv = [sys.executable, __file__, "--child", trees[name], "--accounts", args.accounts]
            output = subprocess.run([*argv, "--turns", str(args.turns)], check=True, capture_output=True)
            figures[name].append(json.loads(output.stdout))
    from common import machine_load

    print(f"{args.rounds} rounds, {args.turns} turns each; CPU per operation, median (min..max)")
    print(machine_load())
    for size in sizes:
        for kind in ("pass", "turn", "burst"):
            cells = []
            for name, rounds in figures.items():
                values = [r[str(size)][kind] * 1000 for r in rounds]
                cells.append(
                    f"{name} {statistics.median(values):.4f} ms ({min(values):.4f}..{max(values):.4f})"
                )
            print(f"  {size:>5} accounts  {kind:<5}  " + "   ".join(cells))


if __name__ == "__main__":
    main()
