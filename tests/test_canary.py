"""``deepseek-free-api canary``, run as a user runs it, against a simulator playing each failure mode.

One account per account-level failure (token invalid, muted, banned, disabled, WAF, captcha, a
stream in an unknown format, a banned login) next to a healthy one; then, one run each, what
concerns every account: a client version DeepSeek refuses, a header it now wants, a mode it
switched off, and DeepSeek unreachable. The table goes to stdout, the exit code says whether all
passed, and the evidence file holds no token or password.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deepseek_free_api.background import BackgroundServer, free_port
from deepseek_free_api.simulator import SimulatorConfig, create_app
from tests.support.processes import CLI, REPO, clean_env, running

PASSWORD = "pass-word-1234"
MUTED_UNTIL = 4102444800  # 2100-01-01 00:00:00 UTC
SIM_ACCOUNTS: list[dict[str, Any]] = [
    {"id": "healthy", "token": "tok-healthy"},
    {"id": "revoked", "token": "tok-revoked", "revoked": True},
    {"id": "muted", "token": "tok-muted", "muted_until": MUTED_UNTIL},
    {"id": "banned", "token": "tok-banned", "banned": True, "ban_signal": "code"},
    {"id": "disabled", "token": "tok-disabled", "disabled": True},
    {"id": "waf", "token": "tok-waf", "edge_block": "waf"},
    {"id": "captcha", "token": "tok-captcha", "edge_block": "captcha"},
    {"id": "drift", "token": "tok-drift"},
    {"id": "mail", "email": "m@example.com", "password": PASSWORD, "banned": True, "ban_signal": "stream"},
]
# account -> (check, result) of its first failing check; None: every check passes.
EXPECTED: dict[str, tuple[str, str] | None] = {
    "healthy": None,
    "revoked": ("users/current", "token invalid"),
    "muted": ("users/current", "muted until 2100-01-01 00:00:00 UTC"),
    "banned": ("users/current", "banned"),
    "disabled": ("users/current", "banned"),
    "waf": ("users/current", "WAF or captcha"),
    "captcha": ("users/current", "WAF or captcha"),
    "drift": ("completion", "stream format changed"),
    "mail": ("login", "banned"),
}


def simulator(**changes: Any) -> BackgroundServer:
    data: dict[str, Any] = {"difficulty": 64, "accounts": [{"id": "healthy", "token": "tok-healthy"}]}
    data.update(changes)
    return BackgroundServer(create_app(SimulatorConfig.from_dict(data)))


def server_config(folder: Path, base_url: str, accounts: list[dict[str, Any]]) -> Path:
    lines = ["[upstream]", f'base_url = "{base_url}"']
    for account in accounts:
        lines.append("[[accounts]]")
        lines.append(f'name = "{account["id"]}"')
        for key in ("token", "email", "password"):
            if key in account:
                lines.append(f'{key} = "{account[key]}"')
    path = folder / "server.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def canary(config: Path, data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(DEEPSEEK_FREE_API_SERVER_DATA_DIR=str(data_dir))
    argv = [*CLI, "canary", "--config", str(config), *extra]
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)


def first_failures(stdout: str) -> dict[str, tuple[str, str] | None]:
    results = json.loads(stdout)
    firsts: dict[str, tuple[str, str] | None] = {}
    for row in results:
        firsts.setdefault(row["account"], None)
        if not row["ok"] and firsts[row["account"]] is None:
            firsts[row["account"]] = (row["check"], row["result"])
    return firsts


@pytest.fixture(scope="module")
def accounts_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[subprocess.CompletedProcess[str], Path]]:
    folder = tmp_path_factory.mktemp("canary")
    drift = {"fault": "format_drift", "times": 0, "account": "drift"}
    with simulator(accounts=SIM_ACCOUNTS, faults=[drift]) as sim:
        config = server_config(folder, sim.url, SIM_ACCOUNTS)
        yield canary(config, folder / "data", "--completion", "--json"), folder / "data"


def test_each_account_failure_mode_is_classified(
    accounts_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, _ = accounts_run
    assert done.returncode == 1, done.stderr
    assert first_failures(done.stdout) == EXPECTED
    healthy = [row for row in json.loads(done.stdout) if row["account"] == "healthy"]
    assert [row["check"] for row in healthy] == ["users/current", "client/settings", "pow", "completion"]


def test_the_evidence_is_kept_without_secrets(
    accounts_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, data_dir = accounts_run
    [evidence_file] = (data_dir / "canary").glob("*.json")
    assert str(evidence_file) in done.stderr
    assert evidence_file.stat().st_mode & 0o077 == 0
    text = evidence_file.read_text()
    kept = json.loads(text)
    assert {row["account"] for row in kept} == {name for name, failure in EXPECTED.items() if failure}
    waf = next(row for row in kept if row["account"] == "waf")
    assert waf["evidence"]["status"] == 202
    assert ["x-amzn-waf-action", "challenge"] in waf["evidence"]["headers"]
    for secret in [a.get("token") for a in SIM_ACCOUNTS] + [PASSWORD, "m@example.com"]:
        assert secret is None or secret not in text, secret


@pytest.mark.parametrize(
    ("case", "changes", "result"),
    [
        ("client version", {"min_client_version": "9.0.0"}, "client version too low"),
        ("missing header", {"required_headers": ["x-hif-leim"]}, "missing header"),
        (
            "mode disabled",
            {"models": [{"model_type": "default"}, {"model_type": "expert", "enabled": False}]},
            "mode disabled",
        ),  # fmt: skip
    ],
)
def test_what_concerns_every_account_is_classified(
    tmp_path: Path, case: str, changes: dict[str, Any], result: str
) -> None:
    with simulator(**changes) as sim:
        done = canary(
            server_config(tmp_path, sim.url, [{"id": "healthy", "token": "tok-healthy"}]), tmp_path / "d"
        )
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["ACCOUNT", "CHECK", "RESULT", "DETAIL"]
    assert any(line.startswith("healthy") and result in line for line in lines[1:]), done.stdout


def test_deepseek_unreachable_is_classified_quickly(tmp_path: Path) -> None:
    config = server_config(
        tmp_path, f"http://127.0.0.1:{free_port()}", [{"id": "healthy", "token": "tok-healthy"}]
    )
    started = time.monotonic()
    done = canary(config, tmp_path / "d")
    assert time.monotonic() - started < 30
    assert done.returncode == 1 and "unreachable" in done.stdout and "refused" in done.stdout, done.stdout


def test_all_good_exits_0(tmp_path: Path) -> None:
    with simulator() as sim:
        done = canary(
            server_config(tmp_path, sim.url, [{"id": "healthy", "token": "tok-healthy"}]), tmp_path / "d"
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "healthy" in done.stdout and " ok " in done.stdout
    assert not (tmp_path / "d" / "canary").exists()


def test_results_are_kept_in_the_store_the_admin_page_shows(tmp_path: Path) -> None:
    sim_accounts: list[dict[str, Any]] = [
        {"id": "healthy", "token": "tok-healthy"},
        {"id": "banned", "token": "tok-banned", "banned": True, "ban_signal": "code"},
    ]
    with simulator(accounts=sim_accounts) as sim:
        config = server_config(tmp_path, sim.url, sim_accounts)
        data_dir = tmp_path / "data"
        env = clean_env(
            DEEPSEEK_FREE_API_SERVER_DATA_DIR=str(data_dir), DEEPSEEK_FREE_API_AUTH_ADMIN_KEYS="admin-k"
        )
        port = free_port()
        with running([*CLI, "serve", "--config", str(config), "--port", str(port)], port, env=env) as served:
            done = canary(config, data_dir)
            assert done.returncode == 1, done.stdout + done.stderr
            shown = httpx.get(served.url + "/admin/api/canary", headers={"Authorization": "Bearer admin-k"})
    verdicts = {run["account"]: run["verdict"] for run in shown.json()["runs"]}
    assert verdicts == {"healthy": "ok", "banned": "banned"}
