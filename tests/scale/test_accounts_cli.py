"""``deepseek-free-api accounts list|add|remove|check``, run as a user runs them, on SQLite and on Redis.

The commands act on the store the servers use: a running server serves an added account within
seconds (through the account's own proxy) and stops using a removed one.
"""

from __future__ import annotations

import asyncio
import subprocess
import time

import httpx

from deepseek_free_api.config import env_name
from deepseek_free_api.stores import open_stores
from tests.support.processes import clean_env
from tests.support.socks_proxy import SocksProxy

from .conftest import Store, accounts, serve, server_env, simulator, spread, upstream

TOKEN = "tok-secret-0123456789"
PASSWORD = "pass-word-9876"


def rows(listed: subprocess.CompletedProcess[str]) -> dict[str, str]:
    assert listed.returncode == 0, listed.stderr
    header, *lines = listed.stdout.splitlines()
    assert header.split()[:4] == ["ACCOUNT", "LOGIN", "ORIGIN", "STATE"]
    return {line.split()[0]: line for line in lines}


def test_add_list_and_remove_never_show_a_secret(store: Store) -> None:
    env = clean_env(**store.env)
    proxy = "socks5://user:proxy-pass@127.0.0.1:1080"
    added = accounts("add", "--name", "alpha", "--token", TOKEN, "--proxy", proxy, env=env)
    assert added.returncode == 0, added.stderr
    login = accounts("add", "--email", "lima@example.com", "--password", "-", env=env, stdin=PASSWORD + "\n")
    assert login.returncode == 0, login.stderr
    assert accounts("add", "--name", "alpha", "--token", TOKEN, env=env).returncode == 1  # exists
    assert accounts("add", "--token", "bad token", env=env).returncode == 2
    assert (
        accounts(
            "add", "--email", "x@example.com", "--password", "p", "--proxy", "ftp://h", env=env
        ).returncode
        == 2
    )
    assert accounts("add", "--mobile", "13800000000", env=env).returncode == 2  # no password

    listed = accounts("list", env=env)
    table = rows(listed)
    assert table["alpha"].split()[1:5] == ["token", "…6789", "added", "free"]
    assert table["alpha"].endswith("socks5://127.0.0.1:1080")
    [lima] = [line for line in table.values() if "lima@example.com" in line]
    assert lima.split()[1:5] == ["email", "lima@example.com", "added", "needs_login"]
    outputs = added.stdout + added.stderr + login.stdout + login.stderr + listed.stdout + listed.stderr
    for secret in (TOKEN, PASSWORD, "proxy-pass"):
        assert secret not in outputs

    removed = accounts("remove", "alpha", env=env)
    assert removed.returncode == 0, removed.stderr
    assert "alpha" not in rows(accounts("list", env=env))
    assert accounts("remove", "alpha", env=env).returncode == 1


def test_check_asks_deepseek_now_and_writes_what_it_said(store: Store) -> None:
    with simulator(accounts=1) as sim:
        httpx.post(sim.url + "/_sim/accounts/alpha", json={"revoked": True}, timeout=10).raise_for_status()
        env = clean_env(DEEPSEEK_BASE_URL=sim.url, **store.env)
        assert accounts("add", "--name", "gone", "--token", "tok-alpha", env=env).returncode == 0
        checked = accounts("check", "gone", env=env)
        assert checked.returncode == 1 and "refused" in checked.stdout, checked
        assert " invalid " in rows(accounts("list", env=env))["gone"]
        assert "InvalidTokenError" in rows(accounts("list", env=env))["gone"]

        httpx.post(sim.url + "/_sim/accounts/alpha", json={"revoked": False}, timeout=10).raise_for_status()
        checked = accounts("check", "gone", env=env)
        assert checked.returncode == 0 and "accepts its token" in checked.stdout, checked
        assert " free " in rows(accounts("list", env=env))["gone"]  # the mark is gone at once
        assert accounts("check", "nobody", env=env).returncode == 1


def test_enable_clears_the_marks_without_asking_deepseek(store: Store) -> None:
    with simulator(accounts=1) as sim:
        httpx.post(sim.url + "/_sim/accounts/alpha", json={"revoked": True}, timeout=10).raise_for_status()
        env = clean_env(DEEPSEEK_BASE_URL=sim.url, **store.env)
        assert accounts("add", "--name", "parked", "--token", "tok-alpha", env=env).returncode == 0
        assert accounts("check", "parked", env=env).returncode == 1
        assert " invalid " in rows(accounts("list", env=env))["parked"]
        asked = len(upstream(sim, "/users/current"))
        enabled = accounts("enable", "parked", env=env)
        assert enabled.returncode == 0 and "marks cleared (healthy)" in enabled.stdout, enabled
        assert " free " in rows(accounts("list", env=env))["parked"]
        assert len(upstream(sim, "/users/current")) == asked  # an operator's decision, not DeepSeek's
        assert accounts("enable", "nobody", env=env).returncode == 1


def test_a_running_server_serves_an_added_account_through_its_proxy_and_drops_a_removed_one(
    store: Store,
) -> None:
    with simulator(accounts=2) as sim, SocksProxy() as proxy:
        env = server_env(sim, store, accounts=1)  # only alpha configured
        with serve(env) as server:
            spread([server.url], 2, "quick alone")
            assert proxy.connections == []
            added = accounts("add", "--name", "beta", "--token", "tok-beta", "--proxy", proxy.url, env=env)
            assert added.returncode == 0, added.stderr
            deadline = time.monotonic() + 20
            while "beta" not in {r["account"] for r in upstream(sim, "/chat/completion")}:
                assert time.monotonic() < deadline, "the added account was never used"
                spread([server.url], 2, "quick both")
            assert proxy.connections, "beta's requests went through its own proxy"
            assert set(proxy.connections) == {sim.url.removeprefix("http://")}

            assert accounts("remove", "beta", env=env).returncode == 0
            time.sleep(6)  # servers read the records back every 5 s
            before = len(upstream(sim, ""))
            outcomes = spread([server.url], 4, "quick after")
            used = {r["account"] for r in upstream(sim, "")[before:] if r["account"]}
        assert [o.status for o in outcomes] == [200] * 4
        assert used == {"alpha"}

    async def record_is_gone() -> None:
        url = env.get(env_name("store.url"), "")
        async with await open_stores(url, env[env_name("server.data_dir")]) as stores:
            assert await stores.accounts.get("beta") is None

    asyncio.run(record_is_gone())
