"""A restart with the default store (the SQLite file in the data directory) keeps what the accounts earned.

Before, a login account logged in again after every restart, and a muted or revoked account went
straight back into rotation: the server asked DeepSeek with it again (and got refused again).
"""

from __future__ import annotations

from pathlib import Path

import httpx

from deepseek_free_api.background import BackgroundServer
from deepseek_free_api.config import env_name
from deepseek_free_api.simulator import SimulatorConfig
from deepseek_free_api.simulator import create_app as create_simulator
from tests.support.processes import clean_env

from .conftest import API_KEY, QUICK, accounts, serve, spread, upstream

PASSWORD = "sim-pass-word-42"
CONFIG = f"""
[[accounts]]
name = "lima"
email = "lima@example.com"
password = "{PASSWORD}"

[[accounts]]
name = "alpha"
token = "tok-alpha"

[[accounts]]
name = "beta"
token = "tok-beta"
"""


def test_tokens_marks_and_mutes_survive_a_restart(tmp_path: Path) -> None:
    config = SimulatorConfig.from_dict(
        {
            "difficulty": 2000,
            "accounts": [
                {"id": "lima", "email": "lima@example.com", "password": PASSWORD},
                {"id": "alpha", "token": "tok-alpha"},
                {"id": "beta", "token": "tok-beta"},
            ],
            "scripts": [QUICK],
        }
    )
    config_file = tmp_path / "server.toml"
    config_file.write_text(CONFIG)
    with BackgroundServer(create_simulator(config)) as sim:
        env = clean_env(
            DEEPSEEK_BASE_URL=sim.url,
            API_KEYS=API_KEY,
            **{env_name("server.data_dir"): str(tmp_path / "data"), env_name("pool.min_interval_s"): "0"},
        )
        httpx.post(
            sim.url + "/_sim/accounts/alpha", json={"mute_seconds": 3600}, timeout=10
        ).raise_for_status()
        httpx.post(sim.url + "/_sim/accounts/beta", json={"revoked": True}, timeout=10).raise_for_status()
        with serve(env, "--config", str(config_file)) as first:
            outcomes = spread([first.url], 6, "quick before")
        tried = {r["account"] for r in upstream(sim, "") if r["account"]}
        logins = len(upstream(sim, "/users/login"))
        listed = accounts("list", "--config", str(config_file), env=env)
        before = len(upstream(sim, ""))
        with serve(env, "--config", str(config_file)) as second:
            after = spread([second.url], 4, "quick after")
        since = upstream(sim, "")[before:]
    assert [o.status for o in outcomes + after] == [200] * 10
    assert tried == {"lima", "alpha", "beta"} and logins == 1  # both marks were earned before the restart
    used = {r["account"] for r in since if r["account"]}
    assert used == {"lima"}, "the muted and the revoked account stayed out after the restart"
    assert not [r for r in since if r["path"].endswith("/users/login")], "the refreshed token was kept"
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert listed.returncode == 0, listed.stderr
    assert " muted " in rows["alpha"] and "UTC" in rows["alpha"]
    assert " invalid " in rows["beta"] and "token rejected by DeepSeek" in rows["beta"]
    assert "email lima@example.com" in rows["lima"] and " free " in rows["lima"]
    assert "tok-alpha" not in listed.stdout and PASSWORD not in listed.stdout
