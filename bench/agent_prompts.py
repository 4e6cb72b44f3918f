"""Server CPU per request when an agent sends the same long tool instructions every time.

Agents send tens of thousands of the same characters with every request: with session reuse
Claude Code sent 48,912 characters per turn after the first, mostly its tool instructions (README
"Session reuse"), and the whole history when a turn is replayed. The server counts the prompt's
tokens for the usage it reports (DeepSeek's web API reports none), ~0.3 ms of CPU per 1,000
characters. This sends ``--requests`` requests per server and round, each with the same system
text of ``--chars`` characters and a new short question, and prints each server's CPU per request
(its process and threads from /proc, until it is quiet again: the refills count). ``--compare
NAME=SRC`` runs another source tree's server beside it (same venv), rounds interleaved.

    .venv/bin/python bench/agent_prompts.py [--chars 48912] [--requests 20] [--rounds 5]
    .venv/bin/python bench/agent_prompts.py --compare base=/tmp/base/src
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
from pathlib import Path

import e2e
from common import SERVICE_KEY, Processes, http, machine_load, rotated, spread, wait_quiet

SCRIPTS = [{"pattern": "bench-agent", "answer": "Qx7 I will read the file first. ", "answer_chars": 200}]


def instructions(chars: int) -> str:
    """Tool instructions of ``chars`` characters: tool names, parameters and prose, as agents send."""
    rng = random.Random(48912)
    words = ["the", "file", "path", "line", "returns", "string", "must", "absolute", "call", "edit", "when"]
    lines: list[str] = []
    while sum(map(len, lines)) < chars:
        name = f"tool_{len(lines)}"
        prose = " ".join(rng.choice(words) for _ in range(rng.randint(8, 30)))
        lines.append(f"- {name}(path: str, line: int = {rng.randint(1, 999)}): {prose}.\n")
    return "".join(lines)[:chars]


async def one_round(
    rig: e2e.Rig, servers: list[str], system: str, requests: int, round_: int
) -> dict[str, float]:
    """CPU seconds per request of each server in this round (servers in a rotated order)."""
    cpu: dict[str, float] = {}
    headers = {"Authorization": f"Bearer {SERVICE_KEY}"}
    for name in rotated(servers, round_):
        child = rig.proxies[name]
        before = child.cpu_seconds()
        for i in range(requests):
            question = f"bench-agent round {round_} request {i}: which file defines the parser?"
            body = {
                "model": "deepseek-chat",
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": question}],
            }
            reply = await http(rig.port(name), "POST", "/v1/chat/completions", headers=headers, body=body)
            if reply.status != 200:
                raise SystemExit(f"{name}: HTTP {reply.status}: {bytes(reply.raw[-300:])!r}")
        await wait_quiet(rig.children())
        cpu[name] = (child.cpu_seconds() - before) / requests
    return cpu


async def main_async(args: argparse.Namespace) -> None:
    servers: dict[str, Path | None] = {"server": None}
    for item in args.compare:
        name, _, src = item.partition("=")
        servers[name] = Path(src)
    system = instructions(args.chars)
    print(f"== bench/agent_prompts.py: {args.chars:,}-character system text, {args.requests} requests")
    print(f"   per server and round, {args.rounds} rounds; {machine_load()}", flush=True)
    rig_args = argparse.Namespace(sim_set=[], server_set=[])
    with Processes() as procs:
        rig = await e2e.start_rig(procs, rig_args, 4, 16, SCRIPTS, servers)
        names = list(servers)
        await one_round(rig, names, system, 2, 0)  # warm-up: the tokenizer's load, connections
        per: dict[str, list[float]] = {name: [] for name in names}
        for round_ in range(args.rounds):
            for name, seconds in (await one_round(rig, names, system, args.requests, round_)).items():
                per[name].append(seconds)
        print(f"   end: {machine_load()}")
    print("server CPU ms per request, median (min-max) over rounds:")
    for name in names:
        line = f"   {name:>10}  {spread(per[name], 1000, 2)}"
        if name != "server":
            # A round whose CPU stayed under the clock's tick (10 ms) reads 0: no ratio from it.
            ratios = [a / b for a, b in zip(per["server"], per[name], strict=True) if b > 0]
            if ratios:
                low, mid, high = min(ratios), statistics.median(ratios), max(ratios)
                line += f"   server / {name} {mid:.2f} (rounds {low:.2f}..{high:.2f})"
            else:
                line += f"   server / {name} n/a (its CPU stayed under the clock's 10 ms tick)"
        print(line)


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--chars", type=int, default=48_912, help="system text length (default 48,912)")
    parser.add_argument("--requests", type=int, default=20, help="requests per server and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--compare", action="append", default=[], metavar="NAME=SRC")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
