"""How much Python a chat turn runs: function calls per turn inside ``serve``, counted, not timed.

The server's CPU per turn is mostly the interpreter running its code (``perf``: ~55 % of the
process's samples in libpython at 50 concurrent, 2026-12), spread over ~2,000 function calls, no
one of them large. Timing that on a shared two-core machine needs many interleaved rounds; the
number of calls does not move with the machine's load. This counts them: ``bench/calls_site``
goes on the server's PYTHONPATH and, between two signals, counts every Python function called and
every C function called from Python (``sys.setprofile``, all threads), by file and name, over
``--bursts`` bursts of ``--concurrency`` streamed chat turns (the TTFT benchmark's short answer, one
account per request, refills included). Printed per tree: calls per turn, the packages they are
in, and the functions called most. ``--compare NAME=SRC`` counts another source tree's server too
(same venv, its own accounts), as ``bench/table.py`` does.

    .venv/bin/python bench/calls.py [--concurrency 10] [--bursts 10] [--top 25] [--compare base=/tmp/base/src]

Counts move a little from run to run (how libcurl splits a body into callbacks, timers that fire
or not); they are not a timing: a call that does little counts as much as one that does a lot.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import e2e
import table
from common import Child, Processes, server_settings, wait_quiet, wait_ready

SITE = Path(__file__).resolve().parent / "calls_site"
Counts = list[tuple[str, str, int]]  # (file or "C", function, calls)


def group(path: str) -> str:
    """The package a function's file belongs to: ``deepseek_free_api/<sub>``, a library, or the stdlib."""
    for marker in ("site-packages/", "/src/"):
        if marker in path:
            parts = path.split(marker, 1)[1].split("/")
            return "/".join(parts[:2]) if parts[0] == "deepseek_free_api" and len(parts) > 2 else parts[0]
    if path.startswith("<"):
        return path  # <string> (dataclasses' generated methods), <frozen abc>, ...
    return "stdlib " + Path(path).stem


def short(path: str) -> str:
    """The path from the package on (``deepseek_free_api/...``, ``curl_cffi/...``, ``asyncio/...``)."""
    for marker in ("site-packages/", "/src/"):
        if marker in path:
            return path.split(marker, 1)[1]
    if "/lib/python3" in path:
        return path.split("/lib/python3", 1)[1].split("/", 1)[-1]
    return path


async def count(child: Child, out: Path, rig: e2e.Rig, path: str, args: argparse.Namespace) -> Counts:
    """Start counting in ``child``, run the bursts on ``path``, stop: the counts it wrote."""
    out.unlink(missing_ok=True)
    os.kill(child.pid, signal.SIGUSR1)
    await asyncio.sleep(0.2)
    for _ in range(args.bursts):
        replies = await e2e.burst(rig, path, args.concurrency, "bench-ttft", 120)
        failed = [r.error for r in replies if r.error or r.ttft is None]
        if failed:
            sys.exit(f"{path}: {len(failed)} request(s) failed: {failed[:3]}")
        await wait_quiet([child])  # the refills after each turn belong to it
    os.kill(child.pid, signal.SIGUSR1)
    for _ in range(100):
        await asyncio.sleep(0.1)
        if out.exists() and out.stat().st_size:
            return [(file, name, n) for file, name, n in json.loads(out.read_text())]
    sys.exit(f"{path}: the server wrote no counts to {out}")


def report(name: str, counts: Counts, turns: int, top: int) -> tuple[float, float]:
    python = sum(n for file, _, n in counts if file != "C") / turns
    native = sum(n for file, _, n in counts if file == "C") / turns
    print(f"\n== {name}: {python:,.0f} Python function calls per turn, {native:,.0f} C calls from Python")
    groups: Counter[str] = Counter()
    for file, _, n in counts:
        if file != "C":
            groups[group(file)] += n
    packages = ", ".join(f"{g} {n / turns:.0f}" for g, n in groups.most_common(12))
    print(f"   by package (calls per turn): {packages}")
    print(f"   the {top} Python functions called most (calls per turn):")
    for file, function, n in [c for c in counts if c[0] != "C"][:top]:
        print(f"   {n / turns:8.1f}  {short(file)}:{function}")
    return python, native


async def run(args: argparse.Namespace) -> None:
    trees: dict[str, Path | None] = {"this": None}
    for item in args.compare:
        name, _, src = item.partition("=")
        trees[name] = Path(src)
    accounts = args.concurrency
    with Processes() as procs:
        config = e2e.simulator_config(accounts, 16, table.SCRIPTS, {}, ("direct", *trees))
        sim, sim_port = procs.simulator(config)
        await wait_ready(sim, sim_port, "/_sim/state")
        children: dict[str, tuple[Child, Path]] = {}
        ports = {"direct": sim_port}
        for name, src in trees.items():
            out = procs.tmp / f"calls-{name}.json"
            env = {"PYTHONPATH": str(SITE), "CALLS_OUT": str(out)}
            settings = server_settings(sim_port, [f"{name}-{i}" for i in range(accounts)])
            child, ports[name] = procs.server(settings, src=src, name=name, env=env)
            children[name] = (child, out)
        for name, (child, _) in children.items():
            await wait_ready(child, ports[name], "/ping")
        await wait_quiet([child for child, _ in children.values()], timeout=180)
        rig = e2e.Rig(sim, {name: child for name, (child, _) in children.items()}, ports, [])
        for name, (child, _) in children.items():  # warm: what a first turn loads is not a turn's work
            for _ in range(3):
                await e2e.burst(rig, name, args.concurrency, "bench-ttft warm", 120)
            await wait_quiet([child])
        totals = {}
        for name, (child, out) in children.items():
            counts = await count(child, out, rig, name, args)
            totals[name] = report(name, counts, args.bursts * args.concurrency, args.top)
    print(f"\n{args.bursts} bursts of {args.concurrency} streamed turns per tree; calls per turn:")
    for name, (python, native) in totals.items():
        print(f"   {name:<8} Python {python:8,.0f}   C {native:8,.0f}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--bursts", type=int, default=10)
    parser.add_argument("--top", type=int, default=25, help="functions listed per tree")
    parser.add_argument("--compare", action="append", default=[], metavar="NAME=SRC")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
