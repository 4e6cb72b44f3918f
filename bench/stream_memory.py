"""Where a live stream's memory goes: the server's heaps at idle and in the middle of a burst.

``bench/table.py``'s 1,000-stream row gives the peak RSS; this says what it is made of. For each
tree (this one, and ``--compare NAME=SRC`` trees, one after the other, each on a fresh ``serve``
over ``--streams`` accounts), ``bench/memory_site`` goes on the server's PYTHONPATH and dumps, on a
signal, the resident memory, the C heap (glibc's ``mallinfo2``), Python's small-object arenas and
the objects the garbage collector tracks: once at idle (after five turns have loaded what a
first turn loads, such as the tokenizer) and once ``--at`` seconds into a burst of
``--streams`` concurrent 4-s streams (the ``many`` benchmark's), and once more when the server is
idle again after it (what the burst left behind). Printed: the dumps and their differences per
stream, the peak RSS of the burst (sampled every 0.1 s, not counting the dump's
own objects), and the coroutines alive per stream. ``--before`` first runs what ``make bench``
runs before its burst on the same server (TTFT bursts and long replies), whose leftovers count.

    .venv/bin/python bench/stream_memory.py [--streams 1000] [--at 3] [--before] [--compare b=/tmp/b/src]

The dump walks every object on the event loop; at 1,000 streams it stalls the server a few hundred
milliseconds, which the streams' timings show but their memory does not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import e2e
import table
from common import Child, Processes, server_settings, wait_quiet, wait_ready
from e2e import MB, sample_rss

SITE = Path(__file__).resolve().parent / "memory_site"
FIGURES = (  # (key in the dump, label)
    ("VmRSS", "resident (RSS)"),
    ("arenas", "Python arenas (pymalloc)"),
    ("malloc_in_use", "C heap in use"),
    ("malloc_free", "C heap free, not returned"),
    ("malloc_mmapped", "C heap, mmapped blocks"),
)


async def dump(child: Child, out: Path) -> dict[str, Any]:
    """Signal ``child`` to dump and return what it wrote."""
    before = out.read_text().count("\n") if out.exists() else 0
    os.kill(child.pid, signal.SIGUSR1)
    for _ in range(300):
        await asyncio.sleep(0.1)
        if out.exists() and out.read_text().count("\n") > before:
            return dict(json.loads(out.read_text().splitlines()[-1]))
    sys.exit(f"{child.name} wrote no memory dump to {out}")


async def measure(procs: Processes, name: str, src: Path | None, args: argparse.Namespace) -> dict[str, Any]:
    """One fresh server for this tree: dumps at idle and during the burst, and the burst's peak."""
    config = e2e.simulator_config(args.streams, 16, table.SCRIPTS, {}, ("direct", name))
    sim, sim_port = procs.simulator(config)
    await wait_ready(sim, sim_port, "/_sim/state")
    out = procs.tmp / f"memory-{name}.jsonl"
    env = {"PYTHONPATH": str(SITE), "MEMORY_OUT": str(out)}
    settings = server_settings(sim_port, [f"{name}-{i}" for i in range(args.streams)])
    child, port = procs.server(settings, src=src, name=name, env=env)
    await wait_ready(child, port, "/ping")
    await wait_quiet([child], timeout=300)  # each account's first session and PoW are prepared
    rig = e2e.Rig(sim, {name: child}, {"direct": sim_port, name: port}, [])
    await e2e.burst(rig, name, 5, "bench-ttft", 120)  # what any first turn loads (the tokenizer: ~40 MB)
    await wait_quiet([child])
    if args.before:
        for _ in range(3):
            await e2e.burst(rig, name, 50, "bench-ttft", 120)
            await wait_quiet([child])
        for _ in range(3):
            await e2e.burst(rig, name, 1, "bench-long", 300)
            await wait_quiet([child])
    await asyncio.sleep(3)  # the idle trim's delay (heap.IdleTrim) and then some
    idle = await dump(child, out)
    stop, peak = asyncio.Event(), [0]
    sampler = asyncio.create_task(sample_rss(child, stop, peak))
    task = asyncio.create_task(e2e.burst(rig, name, args.streams, "bench-many", 300))
    await asyncio.sleep(args.at)
    peak_before_dump = peak[0]
    busy = await dump(child, out)
    await asyncio.sleep(0.3)
    replies = await task
    stop.set()
    await sampler
    failed = [r.error for r in replies if r.error or r.ttft is None]
    await wait_quiet([child])
    await asyncio.sleep(3)  # idle again: what the burst left behind
    after = await dump(child, out)
    sim.stop()
    child.stop()
    peak_rss = max(peak_before_dump, busy["VmRSS"])
    return {"idle": idle, "busy": busy, "after": after, "peak": peak_rss, "failed": failed}


def report(name: str, result: dict[str, Any], streams: int, top: int) -> None:
    idle, busy, after = result["idle"], result["busy"], result["after"]
    print(f"\n== {name}: {streams} streams; failed {len(result['failed'])}")
    print(f"   {'':<28} {'idle':>9} {'in burst':>9} {'per stream':>11} {'after':>9} {'left per stream':>16}")
    for key, label in FIGURES:
        per = (busy[key] - idle[key]) / streams / 1024
        left = (after[key] - idle[key]) / streams / 1024
        print(
            f"   {label:<28} {idle[key] * MB:7.1f} MB {busy[key] * MB:7.1f} MB {per:8.1f} KB"
            f" {after[key] * MB:7.1f} MB {left:13.1f} KB"
        )
    print(f"   peak RSS of the burst (sampled every 0.1 s): {result['peak'] * MB:.1f} MB")
    frames = busy["frames"]
    alive = sum(frames.values())
    print(f"   coroutines and generators alive: {alive:,} ({alive / streams:.1f} per stream); most common:")
    for qualname, count in list(frames.items())[:top]:
        print(f"   {count:7,}  {qualname}")
    grown = {t: busy["types"][t] - idle["types"].get(t, 0) for t in busy["types"]}
    objects = ", ".join(f"{t} {n / streams:.1f}" for t, n in sorted(grown.items(), key=lambda i: -i[1])[:10])
    print(f"   tracked objects per stream, by type: {objects}")
    kept = {t: after["types"][t] - idle["types"].get(t, 0) for t in after["types"]}
    objects = ", ".join(f"{t} {n / streams:.1f}" for t, n in sorted(kept.items(), key=lambda i: -i[1])[:10])
    print(f"   tracked objects left per stream once idle again, by type: {objects}")
    left = {q: n - idle["frames"].get(q, 0) for q, n in after["frames"].items()}
    names = ", ".join(f"{q} {n:,}" for q, n in sorted(left.items(), key=lambda i: -i[1])[:5] if n > 0)
    print(f"   coroutines left once idle again, more than at idle: {names or 'none'}")


async def run(args: argparse.Namespace) -> None:
    trees: dict[str, Path | None] = {"this": None}
    for item in args.compare:
        name, _, src = item.partition("=")
        trees[name] = Path(src)
    results = {}
    with Processes() as procs:
        for name, src in trees.items():
            results[name] = await measure(procs, name, src, args)
            report(name, results[name], args.streams, args.top)
    after = " after TTFT and long bursts" if args.before else ""
    print(f"\n{args.streams} streams, dump at {args.at:g} s{after}:")
    for name, result in results.items():
        idle = result["idle"]["VmRSS"]
        per = (result["busy"]["VmRSS"] - idle) / args.streams / 1024
        print(
            f"   {name:<8} peak RSS {result['peak'] * MB:6.1f} MB, idle {idle * MB:6.1f} MB,"
            f" {per:5.1f} KB resident per stream"
        )
    if any(result["failed"] for result in results.values()):
        sys.exit("some streams failed: " + "; ".join(f"{n}: {r['failed'][:2]}" for n, r in results.items()))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--at", type=float, default=3.0, help="seconds into the burst of the second dump")
    parser.add_argument("--before", action="store_true", help="TTFT bursts and long replies first")
    parser.add_argument("--top", type=int, default=12, help="coroutine names listed")
    parser.add_argument("--compare", action="append", default=[], metavar="NAME=SRC")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
