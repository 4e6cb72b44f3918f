"""The server's own cost per request: CPU seconds and wall time of sequential non-streaming chats.

The simulator runs in its own process, so the CPU figure is the server process's alone (its
event loop, logging and metrics included), read from /proc before and after the loop. The
server logs at ``info`` (one line per request, as ``serve`` does by default) to a file.

    .venv/bin/python bench/request_cost.py [--requests 200] [--rounds 3] [--src OTHER/src]

``--src`` runs the server from another source tree (e.g. ``git archive`` of an older commit
unpacked in /tmp) with this venv, to compare two versions on the same machine in one run:
rounds alternate between the trees. Results are medians over rounds; compare, never assert.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from common import SERVICE_KEY, Child, Processes, server_settings, to_toml
from deepseek_free_api.background import free_port

REPO = Path(__file__).resolve().parents[1]


def start_server(
    workdir: Path, upstream: int, src: Path, log_format: str
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    settings = server_settings(upstream, ["bench-token-1"], server={"host": "127.0.0.1", "port": port})
    settings["log_level"] = "info"
    if log_format != "text":
        settings["server"]["log_format"] = log_format
    config = workdir / f"server-{port}.toml"
    config.write_text(to_toml(settings))
    log = (workdir / f"server-{port}.log").open("wb")
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "deepseek_free_api", "serve", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    for _ in range(600):
        try:
            httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1)
            return process, port
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the server did not start")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(port: int, pid: int, requests: int) -> tuple[float, float]:
    """(server CPU ms per request, wall ms per request) over ``requests`` sequential chats."""
    body = {"model": "deepseek-chat", "messages": [{"role": "user", "content": "hello"}]}
    headers = {"Authorization": f"Bearer {SERVICE_KEY}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as client:
        for _ in range(20):  # warm-up: tokenizer, connections, PoW pre-solving
            client.post("/v1/chat/completions", json=body).raise_for_status()
        cpu, wall = cpu_seconds(pid), time.perf_counter()
        for _ in range(requests):
            client.post("/v1/chat/completions", json=body).raise_for_status()
        wall = time.perf_counter() - wall
        cpu = cpu_seconds(pid) - cpu
    return cpu / requests * 1000, wall / requests * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--src", type=Path, action="append", default=[], help="another source tree")
    parser.add_argument("--log-format", default="text", choices=["text", "json"])
    args = parser.parse_args()
    trees = [REPO / "src", *args.src]
    results: dict[Path, list[tuple[float, float]]] = {tree: [] for tree in trees}
    with Processes() as procs, tempfile.TemporaryDirectory(prefix="dsfa-cost-") as tmp:
        sim, sim_port = procs.simulator(
            {"difficulty": 16, "accounts": [{"id": "a", "token": "bench-token-1"}]}
        )
        _wait_simulator(sim, sim_port)
        for round_ in range(args.rounds):
            order = trees if round_ % 2 == 0 else list(reversed(trees))
            for tree in order:
                process, port = start_server(Path(tmp), sim_port, tree, args.log_format)
                try:
                    results[tree].append(measure(port, process.pid, args.requests))
                finally:
                    process.terminate()
                    process.wait(15)
    for tree, rows in results.items():
        cpu = statistics.median(row[0] for row in rows)
        wall = statistics.median(row[1] for row in rows)
        spread = ", ".join(f"{row[0]:.2f}" for row in rows)
        print(f"{tree}: server CPU {cpu:.3f} ms/request (rounds: {spread}), wall {wall:.3f} ms/request")


def _wait_simulator(sim: Child, port: int) -> None:
    for _ in range(300):
        sim.check_alive()
        try:
            httpx.get(f"http://127.0.0.1:{port}/_sim/state", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the simulator did not start")


if __name__ == "__main__":
    main()
