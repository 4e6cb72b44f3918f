"""Benchmark: the simulator serving N concurrent slow completion streams, one account each.

Starts the simulator in a subprocess (its own core), prepares a session and a solved PoW per
account, then opens every stream at once and reads each to its end. Prints errors, how many
streams were in flight together, time to first byte / first content, and the wall time.

    .venv/bin/python bench/simulator_streams.py [--streams 1000] [--chunks 20] [--rate 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from deepseek_free_api.background import free_port
from deepseek_free_api.upstream.pow import PowChallenge, encode_header, solve

HEADERS = {"User-Agent": "bench/1.0", "X-Client-Version": "2.5.0", "X-Client-Platform": "web"}
SERVER = (
    "import sys, uvicorn\n"
    "from deepseek_free_api.simulator import SimulatorConfig, create_app\n"
    "uvicorn.run(create_app(SimulatorConfig.load(sys.argv[1])), host='127.0.0.1', port=int(sys.argv[2]),"
    " log_level='warning', access_log=False, backlog=4096, timeout_keep_alive=60)\n"
)


def write_config(path: Path, streams: int, chunks: int, rate: float, chunk_chars: int) -> None:
    """A TOML config with one token account per stream and a slow 'bench' script."""
    lines = ["difficulty = 16", "request_log_limit = 1000", ""]
    lines += [
        "[[scripts]]",
        'pattern = "^bench"',
        'answer = "{echo} "',
        f"answer_chars = {chunks * chunk_chars}",
    ]
    lines += ["[scripts.pacing]", f"chunk_chars = {chunk_chars}", f"chunks_per_second = {rate}"]
    lines += ["first_token_ms = 100", ""]
    for i in range(streams):
        lines += ["[[accounts]]", f'id = "bench-{i}"', f'token = "bench-token-{i}"', ""]
    path.write_text("\n".join(lines))


async def prepare(client: httpx.AsyncClient, i: int) -> tuple[dict[str, str], dict[str, Any]]:
    """Session + solved PoW header for account ``i``."""
    headers = {**HEADERS, "Authorization": f"Bearer bench-token-{i}"}
    created = await client.post("/api/v0/chat_session/create", json={}, headers=headers)
    session = created.json()["data"]["biz_data"]["chat_session"]["id"]
    target = {"target_path": "/api/v0/chat/completion"}
    got = await client.post("/api/v0/chat/create_pow_challenge", json=target, headers=headers)
    challenge = PowChallenge.from_json(got.json()["data"]["biz_data"]["challenge"])
    headers["X-Ds-Pow-Response"] = encode_header(challenge, solve(challenge))
    body = {"chat_session_id": session, "parent_message_id": None, "model_type": "default", "prompt": "bench",
            "ref_file_ids": [], "thinking_enabled": False, "search_enabled": False}  # fmt: skip
    return headers, body


async def run_stream(
    port: int, headers: dict[str, str], body: dict[str, Any], start: asyncio.Event
) -> dict[str, Any]:
    """One completion stream read to its end; returns timings and whether it finished cleanly.

    A bare asyncio HTTP/1.1 client: httpx with 1,000 streaming connections in one process was
    itself the bottleneck (streams took 45-52 s against 20 s ideal, while a raw client measured
    22 s on the same simulator), so it would measure the client, not the simulator.
    """
    await start.wait()
    began = time.perf_counter()
    first_byte = first_content = None
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as exc:
        return {"ok": False, "error": type(exc).__name__}
    payload = json.dumps(body).encode()
    head = "".join(f"{key}: {value}\r\n" for key, value in headers.items())
    writer.write(
        (
            "POST /api/v0/chat/completion HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n{head}"
            "Connection: close\r\n\r\n"
        ).encode()
        + payload
    )
    received = bytearray()
    try:
        await writer.drain()
        while piece := await reader.read(65536):
            now = time.perf_counter()
            first_byte = first_byte or now
            if first_content is None and (b'"RESPONSE"' in piece or b'"v":"' in piece):
                first_content = now
            received += piece
    except OSError as exc:
        return {"ok": False, "error": type(exc).__name__}
    finally:
        writer.close()
    end = time.perf_counter()
    header_end = received.find(b"\r\n\r\n")
    if b"content-type: text/event-stream" not in received[:header_end].lower():
        return {"ok": False, "error": f"not SSE: {bytes(received[:12])!r}"}
    finished = b'"response/status","o":"SET","v":"FINISHED"' in received
    return {
        "ok": finished,
        "error": None if finished else "no FINISHED",
        "ttfb": (first_byte or end) - began,
        "ttft": (first_content or end) - began,
        "total": end - began,
    }


async def watch_in_flight(base: str, stop: asyncio.Event, peak: list[int]) -> None:
    """Sample /_sim/state for the number of generations in flight."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        while not stop.is_set():
            state = (await client.get("/_sim/state")).json()
            peak[0] = max(peak[0], len(state["in_flight"]))
            violations = len(state["violations"])
            peak[1] = max(peak[1], violations)
            await asyncio.sleep(0.5)


async def main_async(args: argparse.Namespace, base: str, port: int) -> int:
    limits = httpx.Limits(max_connections=args.streams + 50, max_keepalive_connections=args.streams + 50)
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(120), limits=limits) as client:
        t0 = time.perf_counter()
        prepared: list[tuple[dict[str, str], dict[str, Any]]] = []
        for batch in range(0, args.streams, 100):
            prepared += await asyncio.gather(
                *(prepare(client, i) for i in range(batch, min(batch + 100, args.streams)))
            )
        setup = time.perf_counter() - t0
        start, stop = asyncio.Event(), asyncio.Event()
        peak = [0, 0]
        watcher = asyncio.create_task(watch_in_flight(base, stop, peak))
        tasks = [asyncio.create_task(run_stream(port, h, b, start)) for h, b in prepared]
        await asyncio.sleep(0.2)
        t1 = time.perf_counter()
        start.set()
        results = await asyncio.gather(*tasks)
        wall = time.perf_counter() - t1
        stop.set()
        await watcher
    ok = [r for r in results if r["ok"]]
    errors: dict[str, int] = {}
    for r in results:
        if not r["ok"]:
            errors[r["error"]] = errors.get(r["error"], 0) + 1

    def pct(key: str, q: float) -> float:
        values = sorted(r[key] for r in ok)
        return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")

    ideal = args.chunks / args.rate + 0.1
    print(
        f"streams={args.streams} chunks/stream={args.chunks} rate={args.rate}/s (ideal stream {ideal:.1f}s)"
    )
    print(f"setup (session + PoW per account): {setup:.1f}s")
    print(f"finished cleanly: {len(ok)}/{len(results)}  errors: {errors or 'none'}")
    print(f"peak in flight (sampled): {peak[0]}  one-generation violations: {peak[1]}")
    if ok:
        print(f"TTFB p50 {pct('ttfb', 0.5) * 1000:.0f} ms  p95 {pct('ttfb', 0.95) * 1000:.0f} ms")
        print(f"first content p50 {pct('ttft', 0.5) * 1000:.0f} ms  p95 {pct('ttft', 0.95) * 1000:.0f} ms")
        totals = [r["total"] for r in ok]
        print(
            f"stream duration p50 {statistics.median(totals):.2f}s  max {max(totals):.2f}s  wall {wall:.2f}s"
        )
    return 0 if len(ok) == len(results) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--chunks", type=int, default=20, help="content frames per stream")
    parser.add_argument("--rate", type=float, default=5.0, help="content frames per second per stream")
    parser.add_argument("--chunk-chars", type=int, default=30)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.toml"
        write_config(config, args.streams, args.chunks, args.rate, args.chunk_chars)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        server = subprocess.Popen([sys.executable, "-c", SERVER, str(config), str(port)], env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{base}/_sim/state", timeout=1)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            return asyncio.run(main_async(args, base, port))
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    sys.exit(main())
