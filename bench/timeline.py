"""Where a request's added time to first token goes: the server's steps, timestamped in ``serve``.

At 1 concurrent, direct and server requests alternate (the bench's bare client, one account per
request, as ``bench/table.py``'s TTFT rows); the server runs with ``bench/timeline_site`` on its
PYTHONPATH, which marks a few steps of each chat request with ``time.perf_counter`` (the system's
monotonic clock, the one the client reads too). No tracer and no profiler: each mark is a
dictionary store, so the figures are the server's own, not a tracer's. Printed: the median and
the 10th-90th percentiles of each step to the next, in the order they happen, from the client's
first byte (``client``: it opens its connection) to the first answer byte it reads (``seen``).

With ``--concurrency N`` (N > 1), bursts of N requests alternate instead (each burst released at
once, as ``bench/table.py``'s, the machine left to go quiet after each), and the steps are printed
per rank in the burst (0 = the request whose first answer byte was written first), in ms from the
burst's first connection, medians over the bursts; with the CPU each process used per turn
(server, simulator and this client, from /proc), for the server's bursts and the direct ones: on
a machine whose cores the three share, the added time under load is mostly that CPU.

    .venv/bin/python bench/timeline.py [--requests 40] [--detail]
    .venv/bin/python bench/timeline.py --concurrency 10 [--bursts 20] [--detail]

``--detail`` marks the steps between the request and the call to DeepSeek too (auth, body, parse,
the lease's SQLite transaction, session, proof of work, the stream opened, the first decode).

Steps: ``conn`` the server's protocol has the connection; ``req`` the request is read;
``handler`` the chat route runs; ``run`` the turn starts; ``leased`` it holds an account;
``send`` the call to DeepSeek is handed to curl; ``head``/``body`` DeepSeek's answer head and
first body bytes arrive; ``wstart``/``write1`` the response head and first body are handed to
uvicorn; ``marker`` the write holding the first answer byte.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import e2e
import table
from common import Child, Processes, server_settings, spread, wait_quiet, wait_ready
from e2e import MS

SITE = Path(__file__).resolve().parent / "timeline_site"
ACCOUNTS = 50


def steps(records: list[dict[str, float]]) -> list[tuple[str, str, list[float]]]:
    """Each mark to the next in the order they happen (by median time), with the durations."""
    names = {name for record in records for name in record}
    order = sorted(names, key=lambda name: statistics.median(r[name] for r in records if name in r))
    out = []
    for before, after in zip(order, order[1:], strict=False):
        values = [r[after] - r[before] for r in records if before in r and after in r]
        if values:
            out.append((before, after, values))
    return out


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    low, high = ordered[len(ordered) // 10], ordered[(len(ordered) * 9) // 10]
    return f"{statistics.median(values) * MS:7.3f} ms  ({low * MS:.3f}..{high * MS:.3f})"


async def run(args: argparse.Namespace) -> None:
    with Processes() as procs:
        accounts = max(ACCOUNTS, args.concurrency)  # one account per request of a burst
        config = e2e.simulator_config(accounts, 16, table.SCRIPTS, {}, ("direct", "server"))
        sim, sim_port = procs.simulator(config)
        await wait_ready(sim, sim_port, "/_sim/state")
        out = procs.tmp / "timeline.json"
        env = {"PYTHONPATH": str(SITE), "TIMELINE_OUT": str(out)}
        if args.detail:
            env["TIMELINE_DETAIL"] = "1"
        settings = server_settings(sim_port, [f"server-{i}" for i in range(accounts)])
        server, port = procs.server(settings, env=env)
        await wait_ready(server, port, "/ping")
        await wait_quiet([server], timeout=180)
        rig = e2e.Rig(sim, {"server": server}, {"direct": sim_port, "server": port}, [])
        rig.direct_tokens.extend(f"direct-{i}" for i in range(accounts))
        for _ in range(5):  # warm: the first requests load what a turn needs
            await e2e.burst(rig, "server", args.concurrency, "bench-ttft warm", 60)
        await wait_quiet([server])
        if args.concurrency > 1:
            await run_bursts(args, rig, server, sim, out)
            return
        ttft: dict[str, list[float]] = {"direct": [], "server": []}
        seen: list[tuple[float, float | None]] = []  # the server's requests: client began, marker read
        for i in range(args.requests):
            for path in ("direct", "server") if i % 2 == 0 else ("server", "direct"):
                reply = (await e2e.burst(rig, path, 1, "bench-ttft", 60))[0]
                if reply.error or reply.ttft is None:
                    sys.exit(f"{path} request failed: {reply.error}")
                ttft[path].append(reply.ttft)
                if path == "server":
                    seen.append((reply.began, reply.marker))
                await asyncio.sleep(0.05)  # one refill (two calls at difficulty 16) is done by then
        server.popen.send_signal(2)  # SIGINT: the server exits and writes its marks
        server.popen.wait(30)
        records: list[dict[str, Any]] = json.loads(out.read_text())[-args.requests :]
    if len(records) != len(seen):
        sys.exit(f"{len(records)} marked requests for {len(seen)} sent")
    for record, (began, marker) in zip(records, seen, strict=True):
        record["client"], record["seen"] = began, marker
    server_ttft, direct_ttft = statistics.median(ttft["server"]), statistics.median(ttft["direct"])
    print(f"{args.requests} requests per path, 1 concurrent, alternating")
    print(f"TTFT server {spread(ttft['server'], MS, 2)} ms, direct {spread(ttft['direct'], MS, 2)} ms")
    print(f"added TTFT (medians) {(server_ttft - direct_ttft) * MS:+.2f} ms")
    print("step                          median  (p10..p90)")
    for before, after, values in steps(records):
        print(f"  {before:>14} -> {after:<14} {percentiles(values)}")


async def run_bursts(args: argparse.Namespace, rig: e2e.Rig, server: Child, sim: Child, out: Path) -> None:
    """Bursts of ``--concurrency`` requests, direct and server alternating: marks per rank, CPU."""
    count = args.concurrency
    ttft: dict[str, list[float]] = {"direct": [], "server": []}
    cpu: dict[str, list[list[float]]] = {"direct": [], "server": []}  # per burst: server, sim, client
    for i in range(args.bursts):
        for path in ("direct", "server") if i % 2 == 0 else ("server", "direct"):
            before = [server.cpu_seconds(), sim.cpu_seconds(), time.process_time()]
            replies = await e2e.burst(rig, path, count, "bench-ttft", 60)
            bad = [r for r in replies if r.error or r.ttft is None]
            if bad:
                sys.exit(f"{path} request failed: {bad[0].error}")
            ttft[path].append(statistics.median(r.ttft for r in replies if r.ttft is not None))
            await wait_quiet([server, sim])  # the turns' ends and refills count as theirs
            after = [server.cpu_seconds(), sim.cpu_seconds(), time.process_time()]
            cpu[path].append([(b - a) / count for a, b in zip(before, after, strict=True)])
    server.popen.send_signal(2)  # SIGINT: the server exits and writes its marks
    server.popen.wait(30)
    records: list[dict[str, float]] = json.loads(out.read_text())[-args.bursts * count :]
    if len(records) != args.bursts * count:
        sys.exit(f"{len(records)} marked requests for {args.bursts * count} sent")
    server_ttft, direct_ttft = statistics.median(ttft["server"]), statistics.median(ttft["direct"])
    print(f"{args.bursts} bursts of {count} per path, alternating")
    server_spread, direct_spread = spread(ttft["server"], MS, 2), spread(ttft["direct"], MS, 2)
    print(f"TTFT p50 per burst: server {server_spread} ms, direct {direct_spread} ms")
    print(f"added TTFT (medians) {(server_ttft - direct_ttft) * MS:+.2f} ms")
    for path in ("server", "direct"):
        # Means: /proc counts CPU in 10 ms ticks, a burst's share of a turn in whole ms.
        per = [statistics.fmean(burst[k] for burst in cpu[path]) * MS for k in range(3)]
        print(
            f"CPU per turn in the {path} bursts (ms): server {per[0]:.2f}, simulator {per[1]:.2f},"
            f" client {per[2]:.2f}"
        )
    by_rank: list[dict[str, list[float]]] = [{} for _ in range(count)]
    for first in range(0, len(records), count):
        burst = sorted(records[first : first + count], key=lambda r: r["marker"])
        start = min(r["conn"] for r in burst)
        for rank, record in enumerate(burst):
            for step, at in record.items():
                by_rank[rank].setdefault(step, []).append((at - start) * MS)
    earliest = by_rank[0]
    names = sorted(
        {n for row in by_rank for n in row}, key=lambda n: statistics.median(earliest.get(n, [1e9]))
    )
    print("ms from the burst's first connection, median over bursts, by rank of the first answer byte")
    print("rank " + "".join(f"{n[:8]:>9}" for n in names))
    for rank, row in enumerate(by_rank):
        cells = "".join(f"{statistics.median(row[n]):9.2f}" if n in row else f"{'-':>9}" for n in names)
        print(f"{rank:4d} {cells}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=40, help="at 1 concurrent: requests per path")
    parser.add_argument("--concurrency", type=int, default=1, help="requests per burst (1: one at a time)")
    parser.add_argument("--bursts", type=int, default=20, help="above 1 concurrent: bursts per path")
    parser.add_argument(
        "--detail", action="store_true", help="mark the steps before the call to DeepSeek too"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
