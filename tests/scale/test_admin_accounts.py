"""The admin page's account actions and canary as JSON, on two `serve` processes sharing one SQLite store.

What one server's admin adds, checks, re-enables or removes, the other serves (or stops serving)
within seconds; canary results one server keeps, the other shows. Every action needs an admin key
and no answer or log line carries a token, password or proxy password.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from deepseek_free_api.background import BackgroundServer, free_port
from deepseek_free_api.config import env_name
from deepseek_free_api.simulator import SimulatorConfig
from deepseek_free_api.simulator import create_app as create_simulator
from tests.support.processes import CLI, Running, clean_env, running

ADMIN = {"Authorization": "Bearer admin-key-for-the-json-test"}
SERVICE_KEY = "sk-service-key-for-the-json-test"
GAMMA_TOKEN = "tok-gamma-0123456789abcdef"
PASSWORD = "pass-word-for-lima-9876"
PROXY_PASSWORD = "proxy-pass-5678"
SECRETS = (GAMMA_TOKEN, PASSWORD, PROXY_PASSWORD, ADMIN["Authorization"].split()[1])
SYNC_WAIT_S = 30.0  # servers read the store every 5 s; a loaded machine may take a few rounds


@pytest.fixture(scope="module")
def sim() -> Iterator[BackgroundServer]:
    accounts = [
        {"id": "alpha", "token": "tok-alpha"},
        {"id": "beta", "token": "tok-beta"},
        {"id": "gamma", "token": GAMMA_TOKEN},
    ]
    config = SimulatorConfig.from_dict({"difficulty": 2000, "accounts": accounts})
    with BackgroundServer(create_simulator(config)) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def servers(
    sim: BackgroundServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Running, Running]]:
    data = tmp_path_factory.mktemp("shared-data")  # one SQLite file for both processes
    env = clean_env(
        DEEPSEEK_BASE_URL=sim.url,
        DEEP_SEEK_CHAT_AUTHORIZATION="tok-alpha,tok-beta",
        API_KEYS=SERVICE_KEY,
        **{
            env_name("server.data_dir"): str(data),
            env_name("auth.admin_keys"): ADMIN["Authorization"].split()[1],
            env_name("pool.min_interval_s"): "0",
        },
    )
    logs = tmp_path_factory.mktemp("logs")
    port_a, port_b = free_port(), free_port()
    with (
        running([*CLI, "serve", "--port", str(port_a)], port_a, env=env, log_file=logs / "a.log") as a,
        running([*CLI, "serve", "--port", str(port_b)], port_b, env=env, log_file=logs / "b.log") as b,
    ):
        yield a, b


def accounts(server: Running) -> dict[str, dict[str, Any]]:
    response = httpx.get(server.url + "/admin/api/accounts", headers=ADMIN, timeout=30)
    assert response.status_code == 200, response.text
    no_secret(response.text)
    return {account["id"]: account for account in response.json()["accounts"]}


def act(server: Running, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    response = httpx.post(server.url + path, headers=ADMIN, json=body or {}, timeout=90)
    no_secret(response.text)
    return response


def no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + SYNC_WAIT_S
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def sim_account(sim: BackgroundServer, account: str, **changes: Any) -> None:
    httpx.post(f"{sim.url}/_sim/accounts/{account}", json=changes, timeout=10).raise_for_status()


def test_actions_need_an_admin_key(servers: tuple[Running, Running]) -> None:
    a, _ = servers
    for headers in ({}, {"Authorization": f"Bearer {SERVICE_KEY}"}, {"Authorization": "Bearer nope"}):
        assert httpx.get(a.url + "/admin/api/accounts", headers=headers).status_code == 401
        assert httpx.get(a.url + "/admin/api/canary", headers=headers).status_code == 401
        for path in ("/admin/api/accounts", "/admin/api/accounts/alpha/enable", "/admin/api/canary"):
            assert httpx.post(a.url + path, headers=headers, json={"token": GAMMA_TOKEN}).status_code == 401
    assert "gamma" not in accounts(a)


def test_add_check_enable_canary_remove_across_processes(
    sim: BackgroundServer, servers: tuple[Running, Running]
) -> None:
    a, b = servers
    # Added on A with a proxy that has a password: shown masked, served by B within seconds.
    login = act(
        a,
        "/admin/api/accounts",
        {
            "name": "lima",
            "email": "lima@example.com",
            "password": PASSWORD,
            "proxy": f"socks5://user:{PROXY_PASSWORD}@127.0.0.1:1080",
            "locale": "en-US",
            "timezone_offset": 28800,
        },
    )
    assert login.status_code == 201, login.text
    assert login.json()["proxy"] == "socks5://127.0.0.1:1080"
    assert (login.json()["locale"], login.json()["timezone_offset"]) == ("en-US", 28800)
    bad = act(a, "/admin/api/accounts", {"name": "mike", "token": GAMMA_TOKEN, "locale": "en US\r\nX: y"})
    assert bad.status_code == 400 and "locale" in bad.text, bad.text
    assert login.json()["login"] == "email lima@example.com"
    assert act(a, "/admin/api/accounts/lima/remove").status_code == 200
    refused = act(a, "/admin/api/accounts", {"email": "x@example.com"})  # no password
    assert refused.status_code == 400 and "password" in refused.text
    assert act(a, "/admin/api/accounts", {"token": "bad token"}).status_code == 400

    added = act(a, "/admin/api/accounts", {"name": "gamma", "token": GAMMA_TOKEN})
    assert added.status_code == 201, added.text
    assert added.json()["login"] == "token …cdef"
    assert act(a, "/admin/api/accounts", {"name": "gamma", "token": GAMMA_TOKEN}).status_code == 409
    assert accounts(a)["gamma"]["state"] == "free"  # the adding process serves it at once
    eventually(lambda: "gamma" in accounts(b), "B never served the account A added")

    # Revoked upstream: a re-check on B says so and parks it; A sees it parked.
    sim_account(sim, "gamma", revoked=True)
    checked = act(b, "/admin/api/accounts/gamma/check")
    assert checked.status_code == 200 and checked.json()["ok"] is False, checked.text
    assert "InvalidTokenError" in checked.json()["message"]
    eventually(lambda: accounts(a)["gamma"]["state"] == "invalid", "A never saw the check's verdict")

    # Back upstream: re-enabled on A, B serves it again.
    sim_account(sim, "gamma", revoked=False)
    enabled = act(a, "/admin/api/accounts/gamma/enable")
    assert enabled.status_code == 200 and enabled.json()["condition"] == "healthy", enabled.text
    eventually(lambda: accounts(b)["gamma"]["state"] == "free", "B never saw the re-enable")

    # The canary on demand, on A; its result is in the store, so B shows it.
    run = act(a, "/admin/api/accounts/gamma/canary")
    assert run.status_code == 200 and run.json()["verdict"] == "ok", run.text
    assert [c["check"] for c in run.json()["checks"]] == ["users/current", "client/settings", "pow"]
    sim_account(sim, "gamma", banned=True, ban_signal="code")
    banned = act(a, "/admin/api/accounts/gamma/canary").json()
    assert banned["verdict"] == "banned", banned
    evidence = banned["checks"][0]["evidence"]
    assert evidence["status"] == 200 and "40012" in evidence["first_bytes"]
    assert all(name not in ("authorization", "cookie", "set-cookie") for name, _ in evidence["headers"])
    shown = httpx.get(b.url + "/admin/api/canary", headers=ADMIN).json()["runs"]
    assert [run["verdict"] for run in shown if run["account"] == "gamma"] == ["banned"]
    assert accounts(b)["gamma"]["canary"]["verdict"] == "banned"
    sim_account(sim, "gamma", banned=False)

    # Removed on B: A stops serving it.
    assert act(b, "/admin/api/accounts/gamma/remove").status_code == 200
    assert act(b, "/admin/api/accounts/gamma/remove").status_code == 404
    eventually(lambda: "gamma" not in accounts(a), "A kept serving a removed account")

    logged = a.logged() + b.logged()
    for line in (
        "admin added token account gamma",
        "admin re-checked account gamma: refused",
        "admin re-enabled account gamma",
        "admin asked for the canary on account gamma",
        "admin removed account gamma",
    ):
        assert line in logged
    no_secret(logged)


def test_canary_metrics(servers: tuple[Running, Running]) -> None:
    a, _ = servers
    assert act(a, "/admin/api/canary").status_code == 200  # every server account, one at a time
    metrics = httpx.get(a.url + "/metrics").text
    assert 'deepseek_free_api_canary_runs_total{verdict="ok"}' in metrics
