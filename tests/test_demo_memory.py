"""`serve --demo` runs for as long as one likes: its simulator's memory stays flat.

The demo's simulator kept every session and every logged request body forever (141 → 290 MiB
after 200 long requests, measured 2026-12). Now it keeps the latest sessions of each account and
a bounded request log (demo.toml), so after a warm-up long requests no longer add memory.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from deepseek_free_api.background import free_port
from deepseek_free_api.simulator import SimulatorConfig
from tests.support.processes import CLI, rss_mb, running

REQUESTS = 500
WARM_UP = 200  # by then every limit of demo.toml is reached
PROMPT_CHARS = 100_000
GROWTH_BOUND_MB = 30.0


def test_long_requests_leave_the_demo_memory_flat(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "demo.log"
    with running([*CLI, "serve", "--demo", "--port", str(port)], port, log_file=log) as server:
        # The banner names the simulator's address, then the server's.
        addresses = re.findall(r"http://127\.0\.0\.1:\d+", log.read_text())
        simulator = next(a for a in addresses if a != server.url)

        def ask(number: int) -> None:
            content = f"{number} " + "x" * PROMPT_CHARS + "\nexample a: greeting"
            body = {"model": "deepseek-chat", "messages": [{"role": "user", "content": content}]}
            response = httpx.post(server.url + "/v1/chat/completions", json=body, timeout=120)
            assert response.status_code == 200, response.text
            assert response.json()["choices"][0]["message"]["content"] == "Hi there!"

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(ask, range(WARM_UP)))
            warm = rss_mb(server.process.pid)
            list(pool.map(ask, range(WARM_UP, REQUESTS)))
        final = rss_mb(server.process.pid)
        state = httpx.get(simulator + "/_sim/state", timeout=60).json()

    measured = f"{warm:.0f} MB after {WARM_UP} requests, {final:.0f} MB after {REQUESTS}"
    assert final - warm < GROWTH_BOUND_MB, measured
    assert state["counters"]["sessions_created"] >= REQUESTS
    config = SimulatorConfig.demo()
    for account in config.accounts:
        held = [s for s in state["sessions"] if s["account"] == account.id]
        assert len(held) <= config.sessions_per_account, (account.id, len(held))
