"""``make bench``: the server against an HTTP pass-through, direct and a TCP splice, in one run.

One simulator, the splice, the aiohttp floor and the server (each in its own process, see
bench/e2e.py for the four paths) are started once; then every round measures each figure on each
path, a different path first in each round, so that all paths see the same machine load:

- TTFT at 1, 10 and 50 concurrent (one account per request): added time over direct, p50 per
  round, and p99 at 50; CPU per turn of the floor and of the server (the server's includes its
  background refill of the next session and PoW, measured until it is quiet; the floor's the
  three calls it forwards: session, PoW challenge, completion);
- a long reply (throughput / direct): five per path per round (three with ``--quick``), the
  round's figure their median;
- N concurrent 4-second streams (default 1,000, one account each): all complete? TTFT p99
  server / direct in the same round, the server's peak RSS;
- a fresh server and a fresh floor: start-up to the first answer, RSS after 2 s idle.

The table prints medians over rounds with (min–max), ratios of the medians, and the targets of
Step 11. PoW difficulty 16: proof of work is not what is measured here (bench/pow.py is).

    .venv/bin/python bench/table.py [--quick] [--rounds 3] [--streams 1000] [--json FILE]
    .venv/bin/python bench/table.py --compare base=/tmp/base/src   # another tree's server beside

``--compare NAME=SRC`` runs one more server from another source tree (same venv) as its own path,
interleaved with the rest, for a before/after in one run (its C PoW core must be built there).
``--store NAME=URL`` runs one more server of this tree whose ``store.url`` is URL (the default
server uses the SQLite file), e.g. ``--store memory=memory:// --store redis=redis://127.0.0.1:6379/0``:
what each state store costs, in the same run. ``--workers NAME=N`` likewise runs one more server of
this tree as ``serve --workers N`` (its CPU and RSS are those of all its processes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from common import (
    MARKER,
    Processes,
    install_signal_exit,
    machine_load,
    parse_assignments,
    percentile,
    raise_fd_limit,
    rotated,
    server_settings,
    spread,
    wait_quiet,
)
from e2e import CLIENT_PATHS, MB, MS, Rig, burst, failures, fresh_start, openai_content, sample_rss, start_rig

CONCURRENCY = (1, 10, 50)
SECTIONS = ("ttft", "long", "many", "start")
CHUNK = 16
LONG_CHARS = 200_000
NAN = float("nan")
SCRIPTS = [
    {"pattern": "bench-ttft", "answer": MARKER + " ", "answer_chars": 200, "pacing": {"chunk_chars": CHUNK}},
    {
        "pattern": "bench-long",
        "answer": MARKER + " ",
        "answer_chars": LONG_CHARS,
        "pacing": {"chunk_chars": CHUNK},
    },
    {  # 20 frames at 5 per second: 4-second streams
        "pattern": "bench-many",
        "answer": MARKER + " ",
        "answer_chars": 20 * CHUNK,
        "pacing": {"chunk_chars": CHUNK, "chunks_per_second": 5.0},
    },
]


@dataclass(frozen=True)
class Plan:
    """How much each round measures."""

    rounds: int
    reps: Mapping[int, int]  # bursts per path per round, by concurrency
    streams: int
    long_reps: int  # long replies per path per round (a round's figure is their median)


FULL = Plan(rounds=3, reps={1: 30, 10: 6, 50: 4}, streams=1000, long_reps=5)
QUICK = Plan(rounds=3, reps={1: 12, 10: 3, 50: 2}, streams=200, long_reps=3)
SMOKE = Plan(rounds=1, reps={1: 2, 10: 1, 50: 1}, streams=20, long_reps=1)  # does every part run? (tests)


@dataclass
class Results:
    """Raw figures, one entry per round (lists of samples where a round has several)."""

    ttft: dict[int, dict[str, list[list[float]]]] = field(default_factory=dict)  # conc -> path -> rounds
    cpu: dict[str, list[float]] = field(default_factory=dict)  # path -> CPU s per turn, per round
    long_s: dict[str, list[float]] = field(default_factory=dict)
    many: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    start_s: dict[str, list[float]] = field(default_factory=dict)
    rss_mb: dict[str, list[float]] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    streams: int = 0


async def measure_ttft(
    rig: Rig, paths: Sequence[str], round_: int, plan: Plan, out: Results, turns: dict[str, list[float]]
) -> None:
    """Bursts at each concurrency, paths rotated; CPU and turns counted per path."""
    for concurrency in CONCURRENCY:
        rounds = out.ttft.setdefault(concurrency, {p: [] for p in paths})
        for path in paths:
            rounds[path].append([])
        for rep in range(plan.reps[concurrency]):
            for path in rotated(paths, round_ + rep):
                child = rig.proxies.get(path)
                cpu = child.cpu_seconds() if child is not None else 0.0
                replies = await burst(rig, path, concurrency, "bench-ttft", 60)
                if concurrency > 1:
                    await wait_quiet(rig.children())  # the server's refills belong to its turn
                elif path not in CLIENT_PATHS:
                    await asyncio.sleep(0.05)  # one refill (two calls at difficulty 16) is done by then
                if child is not None:
                    turns[path][0] += child.cpu_seconds() - cpu
                    turns[path][1] += concurrency
                for reply in replies:
                    if reply.error or reply.ttft is None:
                        out.failed[path] = out.failed.get(path, 0) + 1
                    else:
                        rounds[path][-1].append(reply.ttft)


async def measure_long(rig: Rig, paths: Sequence[str], round_: int, plan: Plan, out: Results) -> None:
    """``plan.long_reps`` long replies per path, the paths' order rotated each time; the round's
    figure for a path is the median of its replies (one reply lasts ~0.25 s: a single one per
    round made the ratio swing with every hiccup of the machine)."""
    taken: dict[str, list[float]] = {p: [] for p in paths}
    for rep in range(plan.long_reps):
        for path in rotated(paths, round_ + rep):
            await wait_quiet(rig.children())
            reply = (await burst(rig, path, 1, "bench-long", 300))[0]
            whole = not reply.error and reply.ttft is not None
            if whole and path not in CLIENT_PATHS:  # the server's answer checked, after the clock
                whole = len(openai_content(reply)) == LONG_CHARS
            if whole:
                taken[path].append(reply.duration)
            else:
                out.failed[path] = out.failed.get(path, 0) + 1
    for path, durations in taken.items():
        if durations:
            out.long_s.setdefault(path, []).append(statistics.median(durations))


async def measure_many(rig: Rig, paths: Sequence[str], round_: int, plan: Plan, out: Results) -> None:
    """``plan.streams`` concurrent 4-s streams per path (direct and the servers)."""
    for path in rotated(paths, round_):
        if path in ("splice", "floor"):
            continue
        await wait_quiet(rig.children(), timeout=120)
        stop, peak = asyncio.Event(), [0]
        child = rig.proxies.get(path)
        sampler = asyncio.create_task(sample_rss(child, stop, peak)) if child is not None else None
        replies = await burst(rig, path, plan.streams, "bench-many", 600)
        stop.set()
        if sampler is not None:
            await sampler
        ttft = [r.ttft for r in replies if not r.error and r.ttft is not None]
        row: dict[str, Any] = {
            "ok": len(ttft),
            "failed": failures(replies),
            "ttft_p50_s": percentile(ttft, 0.5),
            "ttft_p99_s": percentile(ttft, 0.99),
            "peak_rss_mb": peak[0] * MB,
        }
        out.many.setdefault(path, []).append(row)
        text = f"ok {row['ok']}/{plan.streams}, TTFT p50 {row['ttft_p50_s'] * MS:.0f} ms"
        text += f" p99 {row['ttft_p99_s'] * MS:.0f} ms"
        if child is not None:
            text += f", peak RSS {row['peak_rss_mb']:.0f} MB"
        print(f"   round {round_ + 1} many {path:<6} {text}", flush=True)


async def measure_start(
    rig: Rig,
    servers: Mapping[str, Path | None],
    round_: int,
    args: argparse.Namespace,
    out: Results,
    stores: Mapping[str, Mapping[str, Any]],
) -> None:
    """A fresh floor and fresh server(s): start-up to the first answer, then idle RSS."""
    extra = parse_assignments(args.server_set)
    for kind in rotated(["floor", *servers], round_):
        settings = server_settings(rig.port("direct"), ["server-0"], **{**extra, **stores.get(kind, {})})
        began, rss = await fresh_start(
            kind, rig.port("direct"), settings, {}, settle=2.0, timeout=60, src=servers.get(kind)
        )
        out.start_s.setdefault(kind, []).append(began)
        out.rss_mb.setdefault(kind, []).append(rss)


async def run(args: argparse.Namespace) -> Results:
    """Start the rig, then the rounds; prints progress as it goes."""
    plan = SMOKE if args.smoke else QUICK if args.quick else FULL
    plan = replace(plan, rounds=args.rounds or plan.rounds, streams=args.streams or plan.streams)
    servers: dict[str, Path | None] = {"server": None}
    for item in args.compare:
        name, _, src = item.partition("=")
        servers[name] = Path(src)
    stores = store_paths(args.store, args.workers)
    servers.update(dict.fromkeys(stores))
    paths = ["direct", "splice", "floor", *servers]
    out = Results(streams=plan.streams)
    with Processes() as procs:
        accounts = max(max(CONCURRENCY), plan.streams if "many" in (args.only or SECTIONS) else 0)
        rig = await start_rig(procs, args, accounts, args.difficulty, SCRIPTS, servers, stores)
        print(f"   rig ready: {accounts} accounts per client; {machine_load()}", flush=True)
        for concurrency in CONCURRENCY:  # warm-up: connections, caches, the first refills
            for path in paths:
                await burst(rig, path, concurrency, "bench-ttft warm", 60)
            await wait_quiet(rig.children())
        only = set(args.only or SECTIONS)
        for round_ in range(plan.rounds):
            if "ttft" in only:
                turns = {p: [0.0, 0.0] for p in paths if p in rig.proxies}
                await measure_ttft(rig, paths, round_, plan, out, turns)
                for path, (cpu, count) in turns.items():
                    out.cpu.setdefault(path, []).append(cpu / count)
            if "long" in only:
                await measure_long(rig, paths, round_, plan, out)
            if "many" in only:
                await measure_many(rig, paths, round_, plan, out)
            if "start" in only:
                await measure_start(rig, servers, round_, args, out, stores)
            print(f"   round {round_ + 1} done; {machine_load()}", flush=True)
    return out


# -- the table -----------------------------------------------------------------------------------


def store_paths(items: Sequence[str], workers: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    """``--store NAME=URL`` and ``--workers NAME=N``: one more server of this tree each, as path NAME."""
    paths: dict[str, dict[str, Any]] = {}
    for option, values in (("--store", items), ("--workers", workers)):
        for item in values:
            name, _, value = item.partition("=")
            if not name or not value or name in ("server", "direct", "splice", "floor", *paths):
                raise SystemExit(f"{option} wants NAME=VALUE with a new name, got {item!r}")
            if option == "--store":
                paths[name] = {"store": {"url": value}}
            elif value.isdigit() and int(value) >= 1:
                paths[name] = {"workers": int(value)}
            else:
                raise SystemExit(f"--workers wants NAME=N with N >= 1, got {item!r}")
    return paths


def medians(rounds: Sequence[Sequence[float]], q: float = 0.5) -> list[float]:
    """The q-quantile of each round's samples."""
    return [percentile(r, q) for r in rounds if r]


def cell(values: Sequence[float], scale: float = 1.0, digits: int = 1, sign: bool = False) -> str:
    text = spread(values, scale, digits)
    return ("+" + text if sign and values and statistics.median(values) >= 0 else text).replace("–", "..")


def ratio(a: Sequence[float], b: Sequence[float]) -> tuple[float, str]:
    """Ratio of the medians, and the per-round ratios' range."""
    if not a or not b or statistics.median(b) <= 0:
        return NAN, "n/a"
    per_round = [x / y for x, y in zip(a, b, strict=False) if y > 0]
    low, high = (min(per_round), max(per_round)) if per_round else (NAN, NAN)
    return statistics.median(a) / statistics.median(b), f"rounds {low:.2f}..{high:.2f}"


def table(out: Results, servers: Sequence[str]) -> list[str]:
    """The Step 11 table, one row per figure; a column and a ratio for each server path."""
    columns = (*servers, "floor", "splice", "direct")
    rows = [
        "| figure | " + " | ".join(servers) + " | floor (aiohttp) | splice | direct | ratio"
        " | target: verdict |",
        "|---|" + "---:|" * (len(columns) + 1) + "---|",
    ]

    def row(
        name: str,
        values: Mapping[str, Sequence[float]],
        text: Callable[[Sequence[float]], str],
        baseline: str | None,
        limit: float,
        target: str,
        below: bool = True,
        notes: Mapping[str, str] | None = None,
    ) -> None:
        if not any(values.values()):
            return  # a section not measured in this run (--only)
        cells = [text(values[p]) if values.get(p) else (notes or {}).get(p, "–") for p in columns]
        ratios, verdicts = [], []
        for server in servers:
            if baseline is None:  # an absolute target
                value = statistics.median(values[server]) if values.get(server) else NAN
            else:
                value, rounds = ratio(values.get(server, []), values.get(baseline, []))
                ratios.append(f"{server} **{value:.2f}×** ({rounds})")
            met = value <= limit if below else value >= limit
            verdicts.append(f"{server} {'met' if met else 'MISSED'}" if value == value else f"{server} ?")
        rows.append(
            f"| {name} | " + " | ".join(cells) + f" | {'; '.join(ratios)} | {target}: {', '.join(verdicts)} |"
        )

    for conc in CONCURRENCY:
        p50 = {p: medians(r) for p, r in out.ttft.get(conc, {}).items()}
        added = {p: [m - d for m, d in zip(v, p50["direct"], strict=False)] for p, v in p50.items()}
        added.pop("direct", None)
        direct = {"direct": "TTFT " + cell(p50.get("direct", []), MS)}
        signed = partial(cell, scale=MS, digits=2, sign=True)
        name = f"added TTFT p50 (ms), {conc} concurrent"
        row(name, added, signed, "floor", 1.5, "≤ 1.5× floor", notes=direct)
    ms, ms0 = partial(cell, scale=MS), partial(cell, scale=MS, digits=0)
    p99 = {p: medians(r, 0.99) for p, r in out.ttft.get(50, {}).items()}
    row("TTFT p99 (ms), 50 concurrent", p99, ms, "floor", 1.5, "≤ 1.5× floor")
    many = {p: [r["ttft_p99_s"] for r in rows_] for p, rows_ in out.many.items()}
    row(f"{out.streams} × 4-s streams: TTFT p99 (ms)", many, ms0, "direct", 2.0, "≤ 2× direct")
    failed = {p: [float(sum(r["failed"].values())) for r in rows_] for p, rows_ in out.many.items()}
    row(f"{out.streams} × 4-s streams: failed", failed, lambda v: f"{sum(v):.0f}", None, 0, "none")
    peak = {p: [r["peak_rss_mb"] for r in rows_] for p, rows_ in out.many.items() if p != "direct"}
    row(f"{out.streams} × 4-s streams: peak RSS (MB)", peak, cell, None, 250, "< 250 MB")
    speed = {p: [LONG_CHARS / s / 1e6 for s in v] for p, v in out.long_s.items()}
    row("long reply (M chars/s)", speed, partial(cell, digits=2), "direct", 0.9, "≥ 0.9× direct", False)
    row("CPU per turn (ms)", out.cpu, partial(cell, scale=MS, digits=2), "floor", 1.5, "≤ 1.5× floor")
    row("idle RSS (MB)", out.rss_mb, cell, None, 60, "≤ 60 MB")
    row("start-up to first answer (ms)", out.start_s, ms0, "floor", 2.0, "≤ 2× floor")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer bursts per round and 200 streams")
    parser.add_argument("--smoke", action="store_true", help="one round of everything, tiny: no figures")
    parser.add_argument("--rounds", type=int, default=0, help="rounds (default 3)")
    parser.add_argument("--streams", type=int, default=0, help="concurrent 4-s streams (default 1,000)")
    parser.add_argument("--difficulty", type=int, default=16, help="simulator PoW difficulty")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="measure only these sections")
    parser.add_argument("--compare", action="append", default=[], metavar="NAME=SRC")
    parser.add_argument(
        "--store",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="one more server of this tree on that store.url (memory://, redis://…); 'server' uses SQLite",
    )
    parser.add_argument(
        "--workers",
        action="append",
        default=[],
        metavar="NAME=N",
        help="one more server of this tree run as `serve --workers N` (SQLite store), as path NAME",
    )
    parser.add_argument("--sim-set", action="append", default=[], metavar="KEY=JSON")
    parser.add_argument("--server-set", action="append", default=[], metavar="SECTION.KEY=JSON")
    parser.add_argument("--json", help="append the raw figures as one JSON line to this file")
    args = parser.parse_args()
    install_signal_exit()
    raise_fd_limit()
    began = time.perf_counter()
    print(f"== bench/table.py {' '.join(sys.argv[1:])}\n   start: {machine_load()}", flush=True)
    out = asyncio.run(run(args))
    servers = ["server", *(item.partition("=")[0] for item in [*args.compare, *args.store, *args.workers])]
    print(f"   end: {machine_load()}; ran {time.perf_counter() - began:.0f} s")
    print("\nMedian (min..max) over rounds; ratios of the medians, with the range of the per-round ratios.\n")
    print("\n".join(table(out, servers)))
    if out.failed:
        print(f"\nfailed requests by path: {out.failed}")
    for path, rows in out.many.items():
        for row in rows:
            if row["failed"]:
                print(f"many streams, {path}: {row['failed']}")
    if args.json:
        with open(args.json, "a") as handle:
            handle.write(json.dumps({"argv": sys.argv[1:], "time": time.time(), **vars(out)}) + "\n")
    many_failed = any(row["failed"] for rows in out.many.values() for row in rows)
    return 1 if out.failed or many_failed else 0  # figures of failed requests measure nothing


if __name__ == "__main__":
    sys.exit(main())
