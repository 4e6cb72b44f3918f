"""Two `serve` processes configured with the same accounts, sharing one store (Redis, or one SQLite file).

DeepSeek runs one generation per account; two servers that did not share their leases both
generated on one account at once (the simulator recorded it as a violation). Sharing the store,
they never do, and a server killed mid-stream frees its accounts within the lease TTL: the
survivor first stops the generation the dead one left running, then uses the account.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time

import httpx

from deepseek_free_api.config import env_name

from .conftest import (
    LEASE_TTL_S,
    Store,
    assert_served_or_refused_honestly,
    chat,
    serve,
    server_env,
    sim_state,
    simulator,
    spread,
    upstream,
)


def test_twenty_requests_over_two_servers_never_share_an_account(store: Store) -> None:
    with simulator(accounts=2) as sim:
        env = server_env(sim, store, accounts=2)
        with serve(env) as first, serve(env) as second:
            outcomes = spread([first.url, second.url], 20, "quick")
        state = sim_state(sim)
        served = {r["account"] for r in upstream(sim, "/chat/completion")}
    assert state["violations"] == []
    assert_served_or_refused_honestly(outcomes)
    assert served == {"alpha", "beta"}


def test_a_killed_servers_accounts_free_within_the_ttl_and_the_other_keeps_serving(store: Store) -> None:
    with simulator(accounts=3) as sim:
        env = server_env(sim, store, accounts=3)
        with serve(env) as survivor, serve(env) as victim:
            doomed = [_start_stream(victim.url, f"long answer {i}") for i in range(2)]
            _wait_until(lambda: len(sim_state(sim)["in_flight"]) == 2, "two generations running")
            orphaned = {a: g["session_id"] for a, g in sim_state(sim)["in_flight"].items()}
            victim.process.send_signal(signal.SIGKILL)  # mid-stream: no drain, no release, no stop
            victim.process.wait(timeout=10)
            killed_at, killed_wall = time.monotonic(), time.time()
            for stream in doomed:
                stream.kill()
                stream.wait(timeout=10)

            async def after_the_kill() -> list[float]:
                async with httpx.AsyncClient() as client:

                    async def timed(i: int) -> float:
                        outcome = await chat(client, survivor.url, f"medium after the kill {i}")
                        assert outcome.status == 200, outcome
                        return time.monotonic() - killed_at

                    return list(await asyncio.gather(*(timed(i) for i in range(3))))

            took = asyncio.run(after_the_kill())
        state = sim_state(sim)
        log = upstream(sim, "/chat/stop_stream") + upstream(sim, "/chat/completion")
    assert state["violations"] == []
    # Three 6-second answers at once need all three accounts: the two the dead server held were
    # free again within the lease TTL (plus a second for the survivor to look again).
    assert max(took) < LEASE_TTL_S + 1 + 6 + 4, took
    for account, session_id in orphaned.items():
        mine = sorted(
            (r for r in log if r["account"] == account and r["time"] > killed_wall), key=lambda r: r["time"]
        )
        assert [r["path"].rsplit("/", 1)[1] for r in mine] == ["stop_stream", "completion"], mine
        assert mine[0]["body"]["chat_session_id"] == session_id  # the dead server's generation


def _start_stream(url: str, prompt: str) -> subprocess.Popen[bytes]:
    """A client reading a long stream in its own process (curl), so that it can just vanish."""
    body = json.dumps(
        {"model": "deepseek-chat", "stream": True, "messages": [{"role": "user", "content": prompt}]}
    )
    argv = [
        "curl",
        "-sN",
        "-H",
        "Authorization: Bearer sk-test-scale-key",
        "-H",
        "Content-Type: application/json",
    ]
    return subprocess.Popen([*argv, "-d", body, url + "/v1/chat/completions"], stdout=subprocess.DEVNULL)


def _wait_until(condition: object, what: str, timeout: float = 30) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_two_servers_with_separate_stores_on_one_account_are_warned_about() -> None:
    # Each with its own memory:// store: they cannot know of each other's leases. The second one
    # hears from DeepSeek that the account is busy while it holds the account's only lease.
    alone = Store("memory", {env_name("store.url"): "memory://"})
    with simulator(accounts=1) as sim:
        env = server_env(sim, alone, accounts=1)
        with serve(env) as first, serve(env) as second:
            stream = _start_stream(first.url, "long answer")
            _wait_until(lambda: len(sim_state(sim)["in_flight"]) == 1, "a generation running")
            refused = spread([second.url], 1, "quick")
            stream.kill()
            stream.wait(timeout=10)
    assert refused[0].status in (429, 502, 503), refused
    assert "is another server using the same account without sharing this store" in second.output
