"""`serve --workers N`: N processes on one port sharing the store; refused with memory://."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from deepseek_free_api.background import free_port
from deepseek_free_api.config import env_name
from tests.support.processes import CLI, REPO, Running, clean_env

from .conftest import (
    Store,
    assert_served_or_refused_honestly,
    serve,
    server_env,
    sim_state,
    simulator,
    spread,
)


def workers_of(server: Running) -> set[int]:
    """The supervisor's worker processes."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {int(child) for child in children}


def test_two_workers_share_the_accounts_and_a_killed_one_is_replaced(store: Store) -> None:
    with simulator(accounts=2) as sim:
        with serve(server_env(sim, store, accounts=2), "--workers", "2") as server:
            assert len(workers_of(server)) == 2
            outcomes = spread([server.url], 20, "quick")
            victim = min(workers_of(server))
            subprocess.run(["kill", "-KILL", str(victim)], check=True)
            deadline = time.monotonic() + 30
            while victim in workers_of(server) or len(workers_of(server)) < 2:
                assert time.monotonic() < deadline, "the killed worker was not replaced"
                time.sleep(0.2)
            again = spread([server.url], 6, "quick")
            state = sim_state(sim)
        assert server.stopped_gracefully, server.output
    assert state["violations"] == []
    assert_served_or_refused_honestly(outcomes + again)
    assert [o.status for o in again] == [200] * 6


def test_workers_with_a_memory_store_are_refused_with_a_reason() -> None:
    port = free_port()
    env = clean_env(DEEP_SEEK_CHAT_AUTHORIZATION="tok-alpha", **{env_name("store.url"): "memory://"})
    argv = [*CLI, "serve", "--port", str(port), "--workers", "2"]
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done
    assert "--workers 2 needs a store the processes share" in done.stderr
    assert "memory://" in done.stderr and "redis://" in done.stderr
