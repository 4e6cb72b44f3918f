"""End-to-end benchmarks of the server against baselines measured in the same run.

Four ways to reach the simulator, each in its own process (client, simulator, proxies and server
never share an event loop):

- ``direct``: a client of the simulator doing what the server must do per request (create a
  session, fetch and solve a PoW challenge, then ``chat/completion``, reading the SSE stream);
- ``splice``: the same client through bench/floor_proxy.py, a TCP splice: the lower bound, which
  no proxy that speaks HTTP can reach;
- ``floor``: the same client through bench/http_floor.py, an aiohttp proxy that parses each JSON
  request, forwards it on a pooled connection and streams the answer back: the fair floor;
- ``server``: ``deepseek-free-api serve`` in front of the simulator, driven through
  ``POST /v1/chat/completions`` with ``stream: true``.

Time to first token (TTFT) is from sending the request to the first byte of the answer text
(every scripted answer starts with a marker). For the client paths the clock covers the
``chat/completion`` call only: the session and the PoW answer are prepared just before it, as a
warm server can prepare them ahead; the server's clock covers everything it does.

Metrics (subcommands; ``all`` runs the four with their defaults):

    ttft   added TTFT over direct at 1 and at 50 concurrent, proxies and server; PoW difficulty
           144,000 (DeepSeek's), because the server's PoW refills compete with live streams
    long   one 200,000-character reply (12,500 frames): server and proxies' throughput / direct,
           CPU seconds per 1,000 frames; difficulty 16 (PoW is not what is measured)
    many   N concurrent 4-second streams over N accounts (default 1,000): all succeed?
           TTFT p50/p99 server / direct, server peak RSS; difficulty 16
    idle   start-up time to the first ``/ping`` and idle RSS, against the simulator's own
           (a FastAPI app in the same venv)

    .venv/bin/python bench/e2e.py ttft [--rounds 5] [--concurrency 1 50]
    .venv/bin/python bench/e2e.py long [--rounds 3] [--chars 200000]
    .venv/bin/python bench/e2e.py many [--streams 1000] [--rounds 1]
    .venv/bin/python bench/e2e.py idle [--rounds 3]

Rounds interleave the paths (a different path first each round); spreads are over rounds.
``--sim-set key=JSON`` and ``--server-set section.key=JSON`` add simulator / server settings
(e.g. a per-call latency once the simulator has one). Every run is bounded by ``--timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import (
    MARKER,
    Child,
    Processes,
    Reply,
    direct_completion,
    install_signal_exit,
    machine_load,
    openai_content,
    parse_assignments,
    percentile,
    prepare_direct,
    raise_fd_limit,
    rotated,
    server_completion,
    server_settings,
    spread,
    wait_quiet,
    wait_ready,
)

MS = 1000.0
MB = 1 / 1e6
# Paths on which the bench's own client makes the upstream calls (through a proxy or not).
CLIENT_PATHS = frozenset({"direct", "splice", "floor"})


@dataclass
class Rig:
    """The running processes of one benchmark and the accounts each client uses."""

    sim: Child
    proxies: dict[str, Child]  # by path: "splice", "floor", "server" (and other servers)
    ports: dict[str, int]  # by path; "direct" is the simulator's
    direct_tokens: list[str]

    @property
    def server(self) -> Child:
        return self.proxies["server"]

    def port(self, path: str) -> int:
        return self.ports[path]

    def children(self) -> list[Child]:
        return [self.sim, *self.proxies.values()]


def simulator_config(
    accounts: int,
    difficulty: int,
    scripts: Sequence[Mapping[str, Any]],
    extra: Mapping[str, Any],
    owners: Sequence[str] = ("direct", "server"),
) -> dict[str, Any]:
    """``accounts`` accounts for each owner (the direct client, each server), these scripts."""
    tokens = [f"{owner}-{i}" for owner in owners for i in range(accounts)]
    return {
        "difficulty": difficulty,
        "request_log_limit": 1000,
        "accounts": [{"id": token, "token": token} for token in tokens],
        "scripts": list(scripts),
        # The simulator's own bound on all sessions (4,096; DeepSeek has none across accounts)
        # would otherwise reclaim the sessions servers prepared ahead, once several paths of
        # 1,000 accounts ran a few rounds: each account keeps 8 of its newest here.
        "sessions_max": max(4096, 8 * len(tokens)),
        **extra,
    }


async def start_rig(
    procs: Processes,
    args: argparse.Namespace,
    accounts: int,
    difficulty: int,
    scripts: Sequence[Mapping[str, Any]],
    servers: Mapping[str, Path | None] | None = None,
    settings_of: Mapping[str, Mapping[str, Any]] | None = None,
) -> Rig:
    """Simulator, splice, floor proxy and server(s), each ready; the servers' start-up work finished.

    ``servers``: path name -> source tree (None: this one); each server has its own accounts.
    ``settings_of``: path name -> settings sections of that server only (e.g. its ``store``).
    """
    servers = servers or {"server": None}
    sim_extra, server_extra = parse_assignments(args.sim_set), parse_assignments(args.server_set)
    config = simulator_config(accounts, difficulty, scripts, sim_extra, ("direct", *servers))
    sim, sim_port = procs.simulator(config)
    await wait_ready(sim, sim_port, "/_sim/state")
    proxies: dict[str, Child] = {}
    ports = {"direct": sim_port}
    proxies["splice"], ports["splice"] = procs.splice(sim_port)
    proxies["floor"], ports["floor"] = procs.floor(sim_port)
    for name, src in servers.items():
        own = {**server_extra, **(settings_of or {}).get(name, {})}
        settings = server_settings(sim_port, [f"{name}-{i}" for i in range(accounts)], **own)
        proxies[name], ports[name] = procs.server(settings, src=src, name=name)
    for name, child in proxies.items():
        await wait_ready(child, ports[name], "/ping" if name in servers else "/_sim/faults")
    await wait_quiet(list(proxies.values()), timeout=180)  # servers pre-solve one PoW per account
    return Rig(sim, proxies, ports, [f"direct-{i}" for i in range(accounts)])


async def burst(rig: Rig, path: str, count: int, prompt: str, timeout: float) -> list[Reply]:
    """``count`` requests on ``path`` released together; client paths prepare theirs first."""
    start = asyncio.Event()
    port = rig.port(path)
    calls: list[Awaitable[Reply]]
    if path not in CLIENT_PATHS:
        calls = [server_completion(port, f"{prompt} {i}", timeout=timeout, start=start) for i in range(count)]
    else:
        prepared = []
        for first in range(0, count, 100):
            prepared += await asyncio.gather(
                *(
                    prepare_direct(port, rig.direct_tokens[i], f"{prompt} {i}")
                    for i in range(first, min(first + 100, count))
                )
            )
        calls = [direct_completion(port, p, timeout=timeout, start=start) for p in prepared]
    tasks = [asyncio.ensure_future(call) for call in calls]
    await asyncio.sleep(0.05)  # every task is waiting on the event
    start.set()
    return list(await asyncio.gather(*tasks))


def failures(replies: Sequence[Reply]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for reply in replies:
        if reply.error is not None or reply.marker is None:
            key = (reply.error or "no answer text")[:100]
            counts[key] = counts.get(key, 0) + 1
    return counts


def header(name: str, args: argparse.Namespace) -> float:
    print(f"\n== {name}: {' '.join(sys.argv)}")
    print(f"   start: {machine_load()}", flush=True)
    return time.perf_counter()


def footer(began: float) -> float:
    elapsed = time.perf_counter() - began
    print(f"   end: {machine_load()}; ran {elapsed:.0f} s", flush=True)
    return elapsed


# -- ttft -------------------------------------------------------------------------------------


async def run_ttft(args: argparse.Namespace) -> dict[str, Any]:
    """Added time to first token over direct, at each concurrency, for the floor and the server."""
    began = header("ttft", args)
    script = {
        "pattern": "bench-ttft",
        "answer": MARKER + " ",
        "answer_chars": args.answer_chars,
        "pacing": {"chunk_chars": 16},
    }
    paths = ("direct", "splice", "floor", "server")
    results: dict[str, Any] = {}
    with Processes() as procs:
        rig = await start_rig(procs, args, max(args.concurrency), args.difficulty, [script])
        for concurrency in args.concurrency:
            reps = args.reps or max(3, 16 // concurrency)
            for path in paths:  # warm-up: connections, caches, the first PoW refills
                await burst(rig, path, concurrency, "bench-ttft warm", args.timeout)
            await wait_quiet(rig.children())
            samples: dict[str, list[list[float]]] = {p: [[] for _ in range(args.rounds)] for p in paths}
            bad: list[Reply] = []
            for round_ in range(args.rounds):
                for _ in range(reps):
                    for path in rotated(paths, round_):
                        replies = await burst(rig, path, concurrency, "bench-ttft", args.timeout)
                        bad += [r for r in replies if r.error or r.ttft is None]
                        samples[path][round_] += [
                            r.ttft for r in replies if r.ttft is not None and not r.error
                        ]
                        if path == "server" or concurrency > 1:
                            await wait_quiet(rig.children())
            results[str(concurrency)] = report_ttft(concurrency, reps, samples, bad)
    results["seconds"] = footer(began)
    return results


def report_ttft(
    concurrency: int, reps: int, samples: Mapping[str, list[list[float]]], bad: Sequence[Reply]
) -> dict[str, Any]:
    medians = {p: [statistics.median(r) for r in rounds if r] for p, rounds in samples.items()}
    added = {
        p: [m - d for m, d in zip(medians[p], medians["direct"], strict=True)]
        for p in ("splice", "floor", "server")
    }
    ratios = [s / f for s, f in zip(added["server"], added["floor"], strict=True) if f > 0]
    print(
        f"-- {concurrency} concurrent; {len(medians['direct'])} rounds x {reps} burst(s) per path;"
        " TTFT median per round, then median (min-max) over rounds, in ms"
    )
    for path, rounds in samples.items():
        pooled = [v for r in rounds for v in r]
        line = f"   {path:<7} TTFT {spread(medians[path], MS)}  p50 {percentile(pooled, 0.5) * MS:.1f}"
        line += f" p99 {percentile(pooled, 0.99) * MS:.1f}  n={len(pooled)}"
        if path != "direct":
            line += f"  added {spread(added[path], MS, 2)}"
        print(line)
    floor_added, server_added = statistics.median(added["floor"]), statistics.median(added["server"])
    ratio = server_added / floor_added if floor_added > 0 else float("nan")
    print(f"   server added / floor added = {ratio:.2f} (per round {spread(ratios, 1, 2)}); target <= 1.5")
    if bad:
        print(f"   failed requests: {failures(bad)}")
    return {
        "medians_ms": {p: [v * MS for v in m] for p, m in medians.items()},
        "added_ms": {p: [v * MS for v in a] for p, a in added.items()},
        "ratio": ratio,
        "failed": len(bad),
    }


# -- long -------------------------------------------------------------------------------------


async def run_long(args: argparse.Namespace) -> dict[str, Any]:
    """One long reply through each path: throughput ratios and CPU per 1,000 frames."""
    began = header("long", args)
    chunk = 16
    frames = math.ceil(args.chars / chunk)
    script = {
        "pattern": "bench-long",
        "answer": MARKER + " ",
        "answer_chars": args.chars,
        "pacing": {"chunk_chars": chunk},
    }
    paths = ("direct", "splice", "floor", "server")
    seconds: dict[str, list[float]] = {p: [] for p in paths}
    cpu: dict[str, list[float]] = {"server": [], "splice": [], "floor": [], "simulator": []}
    problems: list[str] = []
    with Processes() as procs:
        rig = await start_rig(procs, args, 1, args.difficulty, [script])
        for round_ in range(args.rounds):
            for path in rotated(paths, round_):
                await wait_quiet(rig.children())
                before = {c.name: c.cpu_seconds() for c in rig.children()}
                reply = (await burst(rig, path, 1, "bench-long", args.timeout))[0]
                after = {c.name: c.cpu_seconds() for c in rig.children()}
                if reply.error or reply.ttft is None:
                    problems.append(f"{path}: {reply.error or 'no answer'}")
                    continue
                seconds[path].append(reply.duration)
                if path == "server":
                    cpu["server"].append(after["server"] - before["server"])
                    text = openai_content(reply)
                    if len(text) != args.chars:
                        problems.append(f"server answer has {len(text)} characters, not {args.chars}")
                else:
                    cpu["simulator"].append(after["simulator"] - before["simulator"])
                if path in ("splice", "floor"):
                    cpu[path].append(after[path] - before[path])
    per_round = {p: [d / s for d, s in zip(seconds["direct"], seconds[p], strict=False)] for p in paths}
    print(f"-- one reply of {args.chars:,} characters = {frames:,} frames of {chunk}; {args.rounds} rounds")
    for path in paths:
        rate = [args.chars / s / 1e6 for s in seconds[path]]
        line = f"   {path:<7} {spread(seconds[path], 1, 2)} s  {spread(rate, 1, 2)} M chars/s"
        if path != "direct":
            line += f"  throughput / direct {spread(per_round[path], 1, 2)}"
        print(line)
    per_k = {name: [c / frames * 1000 * MS for c in values] for name, values in cpu.items()}
    print(
        f"   CPU ms per 1,000 frames: server {spread(per_k['server'])}, floor {spread(per_k['floor'])},"
        f" splice {spread(per_k['splice'])},"
        f" simulator {spread(per_k['simulator'])}; target server/direct >= 0.9"
    )
    for problem in problems:
        print(f"   problem: {problem}")
    return {
        "seconds": seconds,
        "ratio": per_round,
        "cpu_ms_per_1000_frames": per_k,
        "problems": problems,
        "run_seconds": footer(began),
    }


# -- many -------------------------------------------------------------------------------------


async def sample_rss(child: Child, stop: asyncio.Event, peak: list[int]) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], child.memory("VmRSS"))
        await asyncio.sleep(0.1)


async def run_many(args: argparse.Namespace) -> dict[str, Any]:
    """N concurrent paced streams over N accounts, direct and through the server."""
    began = header("many", args)
    chunk = 16
    script = {
        "pattern": "bench-many",
        "answer": MARKER + " ",
        "answer_chars": args.chunks * chunk,
        "pacing": {"chunk_chars": chunk, "chunks_per_second": args.rate},
    }
    paths = ("direct", "server")
    out: dict[str, Any] = {}
    with Processes() as procs:
        rig = await start_rig(procs, args, args.streams, args.difficulty, [script])
        idle = rig.server.memory("VmRSS")
        for round_ in range(args.rounds):
            for path in rotated(paths, round_):
                await wait_quiet(rig.children(), timeout=60)
                stop, peak = asyncio.Event(), [0]
                sampler = asyncio.create_task(sample_rss(rig.server, stop, peak))
                cpu = rig.server.cpu_seconds()
                t0 = time.perf_counter()
                replies = await burst(rig, path, args.streams, "bench-many", args.timeout)
                wall = time.perf_counter() - t0
                stop.set()
                await sampler
                ok = [r for r in replies if not r.error and r.ttft is not None]
                ttft = [r.ttft for r in ok if r.ttft is not None]
                row = {
                    "ok": len(ok),
                    "failed": failures(replies),
                    "wall_s": wall,
                    "ttft_p50_ms": percentile(ttft, 0.5) * MS,
                    "ttft_p99_ms": percentile(ttft, 0.99) * MS,
                    "duration_p50_s": percentile([r.duration for r in ok], 0.5),
                    "duration_max_s": max((r.duration for r in ok), default=float("nan")),
                    "server_peak_rss_mb": peak[0] * MB,
                    "server_cpu_s": rig.server.cpu_seconds() - cpu,
                }
                out.setdefault(path, []).append(row)
                print(f"   round {round_ + 1} {path:<6} {describe(row, path)}", flush=True)
        hwm = rig.server.memory("VmHWM")
    ideal = args.chunks / args.rate
    print(
        f"-- {args.streams} streams over {args.streams} accounts, {args.chunks} frames at {args.rate}/s"
        f" (ideal stream {ideal:.1f} s); server idle RSS {idle * MB:.0f} MB,"
        f" high-water mark {hwm * MB:.0f} MB"
    )
    for q in ("ttft_p50_ms", "ttft_p99_ms"):
        ratios = [s[q] / d[q] for s, d in zip(out["server"], out["direct"], strict=True)]
        print(
            f"   {q[5:8]} TTFT server/direct {spread(ratios, 1, 2)}"
            f" (server {spread([r[q] for r in out['server']], 1, 0)} ms,"
            f" direct {spread([r[q] for r in out['direct']], 1, 0)} ms)"
        )
    print("   targets: all succeed, p99 TTFT server/direct <= 2, server peak RSS < 300 MB")
    out.update(idle_rss_mb=idle * MB, hwm_mb=hwm * MB, run_seconds=footer(began))
    return out


def describe(row: Mapping[str, Any], path: str) -> str:
    """One line for one burst of the ``many`` benchmark."""
    text = f"ok {row['ok']}/{row['ok'] + sum(row['failed'].values())}"
    text += f"  TTFT p50 {row['ttft_p50_ms']:.0f} ms p99 {row['ttft_p99_ms']:.0f} ms"
    text += f"  stream p50 {row['duration_p50_s']:.2f} s max {row['duration_max_s']:.2f} s"
    text += f"  wall {row['wall_s']:.1f} s"
    if path == "server":
        text += f"  server RSS peak {row['server_peak_rss_mb']:.0f} MB, CPU {row['server_cpu_s']:.1f} s"
    if row["failed"]:
        text += f"  failed {row['failed']}"
    return text


# -- idle -------------------------------------------------------------------------------------


async def fresh_start(
    kind: str,
    upstream: int,
    settings: Mapping[str, Any],
    config: Mapping[str, Any],
    *,
    settle: float,
    timeout: float,
    src: Path | None = None,
) -> tuple[float, float]:
    """Start one new process of ``kind`` (simulator, floor or a server): start-up s, idle RSS MB."""
    with Processes() as once:
        if kind == "simulator":
            child, port = once.simulator(config)
            ready = "/_sim/state"
        elif kind == "floor":
            child, port = once.floor(upstream)
            ready = "/_sim/faults"  # a small answer forwarded from the simulator
        else:
            child, port = once.server(settings, src=src, name=kind)
            ready = "/ping"
        started = await wait_ready(child, port, ready, timeout=timeout)
        await asyncio.sleep(settle)
        await wait_quiet([child])
        return started, child.memory("VmRSS") * MB


async def run_idle(args: argparse.Namespace) -> dict[str, Any]:
    """Start-up time to the first answer and RSS after settling: server, floor and simulator."""
    began = header("idle", args)
    script = {"pattern": "bench-idle", "answer": MARKER}
    config = simulator_config(1, args.difficulty, [script], parse_assignments(args.sim_set))
    kinds = ("simulator", "floor", "server")
    start_s: dict[str, list[float]] = {k: [] for k in kinds}
    rss: dict[str, list[float]] = {k: [] for k in kinds}
    with Processes() as procs:
        upstream, upstream_port = procs.simulator(config)
        await wait_ready(upstream, upstream_port, "/_sim/state")
        settings = server_settings(upstream_port, ["server-0"], **parse_assignments(args.server_set))
        for round_ in range(args.rounds):
            for kind in rotated(kinds, round_):
                began_s, rss_mb = await fresh_start(
                    kind, upstream_port, settings, config, settle=args.settle, timeout=args.timeout
                )
                start_s[kind].append(began_s)
                rss[kind].append(rss_mb)
    print(
        f"-- {args.rounds} starts each; start-up = process start to the first 200 (server /ping,"
        f" simulator /_sim/state, floor a forwarded /_sim/faults); RSS after {args.settle:.0f} s idle"
    )
    for kind in kinds:
        print(
            f"   {kind:<9} start-up {spread(start_s[kind], MS, 0)} ms  idle RSS {spread(rss[kind], 1, 1)} MB"
        )
    for base in ("floor", "simulator"):
        start_ratio = [s / b for s, b in zip(start_s["server"], start_s[base], strict=True)]
        rss_ratio = [s / b for s, b in zip(rss["server"], rss[base], strict=True)]
        print(f"   server / {base}: start-up {spread(start_ratio, 1, 2)}, idle RSS {spread(rss_ratio, 1, 2)}")
    return {"start_s": start_s, "rss_mb": rss, "run_seconds": footer(began)}


# -- command line ------------------------------------------------------------------------------

RUNNERS: dict[str, Callable[[argparse.Namespace], Awaitable[dict[str, Any]]]] = {
    "ttft": run_ttft,
    "long": run_long,
    "many": run_many,
    "idle": run_idle,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", help="append the results as one JSON line to this file")
    sub = parser.add_subparsers(dest="metric", required=True)

    def add(name: str, difficulty: int, rounds: int, timeout: float) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name, help=(RUNNERS[name].__doc__ or "").strip() if name in RUNNERS else "all four"
        )
        p.add_argument("--rounds", type=int, default=rounds)
        p.add_argument("--difficulty", type=int, default=difficulty, help="simulator PoW difficulty")
        p.add_argument("--timeout", type=float, default=timeout, help="bound on each request (s)")
        p.add_argument("--sim-set", action="append", default=[], metavar="KEY=JSON")
        p.add_argument("--server-set", action="append", default=[], metavar="SECTION.KEY=JSON")
        return p

    ttft = add("ttft", 144_000, 5, 60)
    ttft.add_argument("--concurrency", type=int, nargs="+", default=[1, 50])
    ttft.add_argument(
        "--reps", type=int, default=0, help="bursts per path per round (default max(3, 16 / concurrency))"
    )
    ttft.add_argument("--answer-chars", type=int, default=200)
    long = add("long", 16, 3, 300)
    long.add_argument("--chars", type=int, default=200_000)
    many = add("many", 16, 1, 900)
    many.add_argument("--streams", type=int, default=1000)
    many.add_argument("--chunks", type=int, default=20, help="content frames per stream")
    many.add_argument("--rate", type=float, default=5.0, help="content frames per second per stream")
    idle = add("idle", 16, 3, 60)
    idle.add_argument("--settle", type=float, default=2.0, help="seconds idle before reading RSS")
    every = add("all", 0, 0, 0)
    every.add_argument("--streams", type=int, default=1000, help="streams of the many benchmark")
    return parser


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    if args.metric != "all":
        return {args.metric: await RUNNERS[args.metric](args)}
    parser = build_parser()
    results = {}
    for name in ("idle", "ttft", "long", "many"):
        streams = ["--streams", str(args.streams)] if name == "many" else []
        sub_args = parser.parse_args(
            [
                name,
                *streams,
                *sum((["--sim-set", s] for s in args.sim_set), []),
                *sum((["--server-set", s] for s in args.server_set), []),
            ]
        )
        results[name] = await RUNNERS[name](sub_args)
    return results


def main() -> int:
    args = build_parser().parse_args()
    install_signal_exit()
    print(f"open-files limit raised to {raise_fd_limit()}")
    results = asyncio.run(main_async(args))
    if args.json:
        with open(args.json, "a") as handle:
            handle.write(json.dumps({"argv": sys.argv[1:], "time": time.time(), **results}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
