"""A long ``previous_response_id`` chain through `serve` in its own process, the simulator as DeepSeek."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from deepseek_free_api.background import BackgroundServer, free_port
from deepseek_free_api.config import env_name
from deepseek_free_api.simulator import create_app as create_simulator
from tests.api.conftest import API_KEY, server_config_file, simulator_config
from tests.support.processes import CLI, Running, clean_env, running

TURNS = 200
SAMPLED = (2, 20, 50, 100, TURNS)
FILLER = "lorem ipsum dolor sit amet " * 90  # about 2.4 kB a turn, and as much again in the answer
# serve's RSS from turn 50 to 200. Measured on a loaded 2-core machine (2026-12-05): with every stored
# response holding the whole conversation up to it, it grew by about 30 MiB; with each holding only
# its own turn, by 1-2 MiB.
RSS_GROWTH_MAX = 8 * 2**20


@pytest.mark.timeout(300)
def test_a_200_turn_chain_goes_on_in_one_session_and_keeps_a_flat_footprint(tmp_path: Path) -> None:
    # Before: each follow-up folded the whole stored conversation into a new session (the 200th
    # prompt carried about 1 MB); then each stored response still held the whole conversation up
    # to it, so the store's bytes, the bytes read every turn and the server's memory grew with it.
    data = tmp_path / "data"
    with BackgroundServer(create_simulator(simulator_config())) as simulator:
        config = server_config_file(tmp_path, simulator.url)
        env = clean_env(
            **{env_name("pool.min_interval_s"): "0", env_name("server.data_dir"): str(data)}
        )  # one account, turn after turn; the store's SQLite file where the test reads record sizes
        port = free_port()
        with (
            # Its log to a file: a pipe nobody reads fills after about 250 access lines and blocks it.
            running(
                [*CLI, "serve", "--config", str(config), "--port", str(port)],
                port,
                env=env,
                log_file=tmp_path / "serve.log",
            ) as server,
            httpx.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60
            ) as http,
        ):
            previous: str | None = None
            inputs: list[str] = []
            rss: dict[int, int] = {}
            size: dict[int, int] = {}
            started = time.monotonic()
            for turn in range(1, TURNS + 1):
                text = f"turn {turn}: {FILLER}"
                body = {"model": "deepseek-chat", "input": text}
                if previous is not None:
                    body["previous_response_id"] = previous
                reply = http.post("/v1/responses", json=body)
                assert reply.status_code == 200, f"turn {turn}: {reply.text}"
                assert reply.json()["output_text"].startswith(f"Echo: turn {turn}: ")
                previous = reply.json()["id"]
                inputs.append(text)
                if turn in SAMPLED:
                    rss[turn] = _rss(server)
                    size[turn] = _stored_size(data / "state.sqlite3", previous)
            elapsed = time.monotonic() - started
        sent = httpx.get(simulator.url + "/_sim/requests", timeout=10).json()["requests"]
    completions = [r for r in sent if r["path"].endswith("/chat/completion")]
    sessions = [r for r in sent if r["path"].endswith("/chat_session/create")]
    growth = rss[TURNS] - rss[50]
    print(
        f"\n{TURNS} turns in {elapsed:.1f} s ({elapsed / TURNS * 1000:.0f} ms a turn); largest prompt "
        f"{max(len(c['prompt']) for c in completions)} chars; {len(sessions)} session(s) created; "
        "server RSS (MiB) "
        + ", ".join(f"{rss[turn] / 2**20:.1f} at turn {turn}" for turn in SAMPLED)
        + "; stored bytes of the response "
        + ", ".join(f"{size[turn]} at turn {turn}" for turn in SAMPLED)
    )
    assert len(completions) == TURNS
    assert len({c["body"]["chat_session_id"] for c in completions}) == 1  # one upstream session
    assert len(sessions) <= 2  # the chain's, and at most one prepared for the next turn
    assert [c["prompt"] for c in completions] == inputs  # each prompt only its new input
    assert size[TURNS] < size[2] + 100, f"a stored response grew from {size[2]} to {size[TURNS]} bytes"
    assert growth < RSS_GROWTH_MAX, f"serve's RSS grew by {growth / 2**20:.1f} MiB from turn 50 to {TURNS}"


def _rss(server: Running) -> int:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    kilobytes = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(kilobytes) * 1024


def _stored_size(path: Path, response_id: str) -> int:
    """The bytes the store counts for a response (read-only, in a connection closed at once)."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as store:
        (size,) = store.execute("SELECT size FROM responses WHERE id = ?", (response_id,)).fetchone()
    return int(size)
