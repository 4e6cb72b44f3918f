"""The drift canary on a schedule, in `serve`'s own process: each account in turn, spread, results kept.

With ``upstream.canary_interval_s = 4`` and two accounts, an account is checked every 2 s, one at a
time; the banned one shows ``banned`` with its evidence, the healthy one ``ok``, and ``/metrics``
counts both verdicts.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from deepseek_free_api.accounts import token_account_id
from deepseek_free_api.background import BackgroundServer, free_port
from deepseek_free_api.config import env_name
from deepseek_free_api.simulator import SimulatorConfig
from deepseek_free_api.simulator import create_app as create_simulator
from tests.ops.support import scrape, value
from tests.support.processes import CLI, clean_env, running

ADMIN_KEY = "admin-key-for-the-schedule-test"
INTERVAL_S = 4.0
ALPHA, BETA = token_account_id("tok-alpha"), token_account_id("tok-beta")  # ids of token accounts


def test_scheduled_canary_checks_each_account_in_turn() -> None:
    accounts = [
        {"id": "alpha", "token": "tok-alpha"},
        {"id": "beta", "token": "tok-beta", "banned": True, "ban_signal": "code"},
    ]
    config = SimulatorConfig.from_dict({"difficulty": 2000, "accounts": accounts})
    with BackgroundServer(create_simulator(config)) as sim:
        env = clean_env(
            DEEPSEEK_BASE_URL=sim.url,
            DEEP_SEEK_CHAT_AUTHORIZATION="tok-alpha,tok-beta",
            **{
                env_name("auth.admin_keys"): ADMIN_KEY,
                env_name("upstream.canary_interval_s"): str(INTERVAL_S),
            },
        )
        port = free_port()
        with running([*CLI, "serve", "--port", str(port)], port, env=env) as served:
            started = time.time()
            runs: dict[str, dict[str, Any]] = {}
            deadline = time.monotonic() + 60
            while set(runs) != {ALPHA, BETA}:
                assert time.monotonic() < deadline, runs
                time.sleep(0.5)
                answer = httpx.get(
                    served.url + "/admin/api/canary", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
                )
                runs = {run["account"]: run for run in answer.json()["runs"]}
            # The first check comes one gap after the start, not at once (no burst at start-up).
            assert min(run["at"] for run in runs.values()) >= started + INTERVAL_S / 2 * 0.5
            assert runs[ALPHA]["verdict"] == "ok"
            assert runs[BETA]["verdict"] == "banned"
            assert runs[BETA]["checks"][0]["evidence"]["status"] == 200
            samples = scrape(served.url)
            assert value(samples, "deepseek_free_api_canary_runs_total", verdict="ok") >= 1
            assert value(samples, "deepseek_free_api_canary_runs_total", verdict="banned") >= 1
            time.sleep(INTERVAL_S)  # a second round
            calls = httpx.get(sim.url + "/_sim/requests", params={"path": "users/current"}).json()["requests"]

    # One account at a time, spread: the checks of different accounts are about a gap apart.
    times = sorted((call["time"], call["account"]) for call in calls)
    assert len({account for _, account in times}) == 2 and len(times) >= 3, times
    for (earlier, first), (later, second) in zip(times, times[1:], strict=False):
        if first != second:
            assert later - earlier >= INTERVAL_S / 2 * 0.5, times
