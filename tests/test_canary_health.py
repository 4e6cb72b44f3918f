"""The canary's verdict moves the account's health, as a request's failure would.

`serve` and the `canary` command share one store (a SQLite file), in front of a simulator scripted
per account. After a canary run, `accounts list` and the running server's admin API show each
account parked the way its verdict says (token invalid, muted until T, banned, disabled, a login
refused as banned), while a WAF challenge or a client-version gate, which concern every account,
park nothing; DeepSeek unreachable is noted, not parked. A banned account that DeepSeek lifts is
healthy again after a canary run with a completion, not after one without (a ban may show only
when generating). In `serve`, the
scheduled canary finding a login account's token revoked makes the server log in again before
the next request uses it.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from deepseek_free_api.background import BackgroundServer, free_port
from deepseek_free_api.simulator import SimulatorConfig, create_app
from tests.support.processes import CLI, REPO, Running, clean_env, running
from tests.test_canary import PASSWORD, SIM_ACCOUNTS

ADMIN_KEY = "admin-key-canary-health"
API_KEY = "sk-canary-health"


@dataclass
class Stack:
    """A simulator, and `serve` on a config file whose store the commands share."""

    sim_url: str
    served: Running
    config: Path
    env: dict[str, str]

    def command(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *argv, "--config", str(self.config)],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def sim(self, path: str, body: dict[str, Any]) -> None:
        httpx.post(self.sim_url + path, json=body).raise_for_status()

    def listed(self) -> dict[str, dict[str, str]]:
        """`accounts list` as {account: {column: value}} (columns split on runs of 2+ spaces)."""
        done = self.command("accounts", "list")
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        header = lines[0]
        starts = [header.index(name) for name in header.split("  ") if name.strip()]
        names = [name.strip() for name in header.split("  ") if name.strip()]
        rows = {}
        for line in lines[1:]:
            cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
            rows[cells[0]] = dict(zip(names, cells, strict=True))
        return rows

    def served_states(self) -> dict[str, tuple[str, str]]:
        """The running server's own view: account -> (pool state, condition)."""
        answer = httpx.get(
            self.served.url + "/admin/api/accounts", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        )
        return {a["id"]: (a["state"], a["condition"]) for a in answer.json()["accounts"]}


@contextmanager
def stack(tmp_path: Path, sim_accounts: list[dict[str, Any]], *extra: str, **sim: Any) -> Iterator[Stack]:
    config = {"difficulty": 64, "accounts": sim_accounts, **sim}
    with BackgroundServer(create_app(SimulatorConfig.from_dict(config))) as simulator:
        lines = [
            "[upstream]",
            f'base_url = "{simulator.url}"',
            *extra,
            "[auth]",
            f'api_keys = ["{API_KEY}"]',
            f'admin_keys = ["{ADMIN_KEY}"]',
        ]
        for account in sim_accounts:
            lines += ["[[accounts]]", f'name = "{account["id"]}"']
            lines += [f'{key} = "{account[key]}"' for key in ("token", "email", "password") if key in account]
        path = tmp_path / "server.toml"
        path.write_text("\n".join(lines) + "\n")
        env = clean_env(DEEPSEEK_FREE_API_SERVER_DATA_DIR=str(tmp_path / "data"))
        port = free_port()
        with running([*CLI, "serve", "--config", str(path), "--port", str(port)], port, env=env) as served:
            yield Stack(simulator.url, served, path, env)


def eventually(read: Any, expected: Any, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while (seen := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.3)
    return seen


# account -> (CONDITION, STATE) in `accounts list` after one canary run
AFTER_CANARY = {
    "healthy": ("healthy", "free"),
    "revoked": ("invalid_token", "invalid"),
    "muted": ("muted", "muted"),
    "banned": ("banned", "invalid"),
    "disabled": ("disabled", "invalid"),
    "waf": ("healthy", "free"),  # a WAF challenge is the server's problem, not the account's
    "captcha": ("healthy", "free"),
    "drift": ("healthy", "free"),  # (its stream drifts only under test_canary's armed fault)
    "mail": ("banned", "invalid"),  # its login was refused as banned
}


def test_the_canary_verdict_parks_each_account_as_a_failure_would(tmp_path: Path) -> None:
    with stack(tmp_path, SIM_ACCOUNTS) as s:
        done = s.command("canary")
        assert done.returncode == 1, done.stdout + done.stderr
        rows = s.listed()
        assert {name: (row["CONDITION"], row["STATE"]) for name, row in rows.items()} == AFTER_CANARY, rows
        assert rows["muted"]["UNTIL"] == "2100-01-01 00:00:00 UTC"
        # The running server takes the verdicts in (it reads the store back every few seconds).
        expected = {name: (state, condition) for name, (condition, state) in AFTER_CANARY.items()}
        assert eventually(s.served_states, expected) == expected


def test_a_lifted_ban_is_healthy_again_after_a_canary_with_a_completion(tmp_path: Path) -> None:
    banned = [{"id": "banned", "token": "tok-banned", "banned": True, "ban_signal": "code"}]
    with stack(tmp_path, banned) as s:
        assert s.command("canary").returncode == 1
        assert s.listed()["banned"]["CONDITION"] == "banned"
        s.sim("/_sim/accounts/banned", {"banned": False})
        assert s.command("canary").returncode == 0
        assert s.listed()["banned"]["CONDITION"] == "banned"  # users/current alone does not prove it
        assert s.command("canary", "--completion").returncode == 0
        row = s.listed()["banned"]
        # healthy, and pacing after its completion
        assert row["CONDITION"] == "healthy" and row["STATE"] in ("free", "pacing"), row
        assert eventually(s.served_states, {"banned": ("free", "healthy")}) == {"banned": ("free", "healthy")}
        # DeepSeek unreachable (the same account and store, a port nobody listens on): noted, not parked;
        # a run that reaches DeepSeek again makes it healthy.
        dead = tmp_path / "dead.toml"
        dead.write_text(s.config.read_text().replace(s.sim_url, f"http://127.0.0.1:{free_port()}"))
        done = subprocess.run(
            [*CLI, "canary", "--config", str(dead)], cwd=REPO, env=s.env, capture_output=True, text=True
        )
        assert done.returncode == 1 and "unreachable" in done.stdout, done.stdout
        row = s.listed()["banned"]
        assert (row["CONDITION"], row["STATE"]) == ("unreachable", "free"), row
        assert s.command("canary").returncode == 0
        assert s.listed()["banned"]["CONDITION"] == "healthy"


def test_what_concerns_every_account_parks_none(tmp_path: Path) -> None:
    with stack(tmp_path, [{"id": "healthy", "token": "tok-healthy"}], min_client_version="9.0.0") as s:
        done = s.command("canary")
        assert done.returncode == 1 and "client version too low" in done.stdout, done.stdout
        row = s.listed()["healthy"]
        assert (row["CONDITION"], row["STATE"]) == ("healthy", "free"), row


def _chat(url: str) -> None:
    answer = httpx.post(
        url + "/v1/chat/completions",
        json={"model": "deepseek-v4-flash", "messages": [{"role": "user", "content": "Hi"}]},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text


def test_the_scheduled_canary_sends_a_login_account_with_a_revoked_token_to_log_in_again(
    tmp_path: Path,
) -> None:
    mail = [{"id": "mail", "email": "m@example.com", "password": PASSWORD}]
    with stack(tmp_path, mail, "canary_interval_s = 2") as s:

        def calls() -> list[dict[str, Any]]:
            return list(httpx.get(s.sim_url + "/_sim/requests").json()["requests"])

        _chat(s.served.url)  # the server logs the account in and keeps its token
        # The turn's refill (the next session and PoW, prepared after it) goes out with the token
        # that was still good: wait until it has, so that "after" holds only what the revocation led to.
        quiet_since, count = time.monotonic(), len(calls())
        while time.monotonic() - quiet_since < 1.0:
            time.sleep(0.1)
            if (now := len(calls())) != count:
                quiet_since, count = time.monotonic(), now
        revoked_at = time.time()
        s.sim("/_sim/accounts/mail", {"revoked": True})
        seen = eventually(lambda: s.listed()["mail"]["CONDITION"], "invalid_token")
        row = s.listed()["mail"]
        assert seen == "invalid_token" and "logging in again" in row["REASON"], row
        assert eventually(s.served_states, {"mail": ("needs_login", "invalid_token")}) == {
            "mail": ("needs_login", "invalid_token")
        }
        _chat(s.served.url)
        after = [call for call in calls() if call["time"] > revoked_at]
    # The next request logged in again first: no session or completion went out with the revoked
    # token (before, the request met DeepSeek's 40003 and then logged in).
    paths = [call["path"].rsplit("/api/v0/", 1)[-1] for call in after]
    assert paths.count("users/login") == 1, paths
    relogin = paths.index("users/login")
    used = [i for i, path in enumerate(paths) if path in ("chat_session/create", "chat/completion")]
    assert used and min(used) > relogin, paths
