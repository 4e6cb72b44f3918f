"""The simulator stays as fast after thousands of calls and with thousands of accounts.

Benchmarks time the server and a direct client against the same simulator over repeated rounds
of 1,000 streams: a simulator that slows down from one round to the next, or answers one account
slower than another, skews the comparison. Costs are compared with each other (never against a
wall-clock limit), each taken as the fastest of several batches, so a loaded machine moves both.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from deepseek_free_api.simulator import SimulatorConfig
from deepseek_free_api.simulator.core import Simulator
from deepseek_free_api.simulator.pow import PowIssuer

from .client import WEB_HEADERS, Sim, encode_pow
from .conftest import running, test_config

COMPLETION = "/api/v0/chat/completion"


def fastest(work: Callable[[], None], batches: int = 7) -> float:
    """The shortest time of ``batches`` runs of ``work``."""
    best = float("inf")
    for _ in range(batches):
        began = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - began)
    return best


def issue_and_check(issuer: PowIssuer, count: int) -> None:
    """``count`` challenges issued and answered, as ``chat/completion`` callers do."""
    for _ in range(count):
        challenge = issuer.issue(COMPLETION).to_json()
        issuer.check(encode_pow(challenge, 0), COMPLETION)  # difficulty 1: the answer is 0


def test_a_proof_of_work_costs_the_same_after_ten_thousand_challenges() -> None:
    issuer = PowIssuer(difficulty=1, expire_after_ms=300_000)
    early = fastest(lambda: issue_and_check(issuer, 100))
    issue_and_check(issuer, 10_000)  # unexpired: all remembered (a reused answer must be refused)
    late = fastest(lambda: issue_and_check(issuer, 100))
    # Was 30-60x slower: every call scanned both tables once they held 4,096 entries.
    assert late < 3 * early, f"100 challenges: {early * 1e3:.1f} ms at first, {late * 1e3:.1f} ms later"


def test_the_last_of_twenty_thousand_accounts_is_found_as_fast_as_the_first() -> None:
    accounts = [{"id": f"acct-{i}", "token": f"token-{i}"} for i in range(20_000)]
    sim = Simulator(SimulatorConfig.from_dict({"accounts": accounts}))
    world = sim.world

    def find(token: str) -> Callable[[], None]:
        def run() -> None:
            for _ in range(200):
                assert world.by_token(token) is not None

        return run

    first, last = fastest(find("token-0")), fastest(find("token-19999"))
    # Was a scan of every account: ~10,000x slower for the last one.
    assert last < 5 * first + 1e-4, f"200 lookups: first {first * 1e3:.2f} ms, last {last * 1e3:.2f} ms"


def test_a_new_login_retires_the_old_token() -> None:
    login = {"email": "demo@example.com", "password": "demo-password-1", "device_id": "d", "os": "web"}
    with running(test_config()) as client:
        old = client.post("/api/v0/users/login", json=login, headers=WEB_HEADERS).json()
        old_token = old["data"]["biz_data"]["user"]["token"]
        client.post("/_sim/accounts/demo-mail", json={"revoked": True})
        new = client.post("/api/v0/users/login", json=login, headers=WEB_HEADERS).json()
        new_token = new["data"]["biz_data"]["user"]["token"]
        assert new_token != old_token
        assert Sim(client, new_token).get("users/current").json()["code"] == 0
        assert Sim(client, old_token).get("users/current").json()["code"] == 40003
