"""Account change notifications: what caches tied to an account (PoW, sessions) listen to."""

from __future__ import annotations

import asyncio
import logging

import pytest

from deepseek_free_api.accounts import Account, AccountPool

PASSWORD = "pass-word-1234"


def test_listeners_hear_of_removal_eviction_and_new_tokens() -> None:
    async def main() -> None:
        async def login(account: Account) -> str:
            return "logged-in-token"

        pool = AccountPool(
            [
                Account.from_token("token-a", name="a"),
                Account.from_credentials(email="b@x.io", password=PASSWORD, name="b"),
            ],
            max_waiters=1,
            wait_timeout_s=5,
            max_caller_accounts=1,
            login=login,
        )
        heard: list[str] = []
        unsubscribe = pool.subscribe(heard.append)
        pool.update_token("a", "token-a2")
        pool.update_token("a", "token-a2")  # the same token again: nothing to forget
        assert heard == ["a"]
        async with pool.lease(prefer="b") as lease:  # logs in: b gets a new token
            assert lease.account.id == "b"
        assert heard == ["a", "b"]
        [first] = pool.register_caller_tokens(["caller-1"])
        pool.register_caller_tokens(["caller-2"])  # evicts caller-1 (max_caller_accounts=1)
        assert first not in pool and heard == ["a", "b", first]
        pool.remove("a")
        assert heard == ["a", "b", first, "a"]
        unsubscribe()
        pool.remove("b")
        assert heard == ["a", "b", first, "a"]

    asyncio.run(main())


def test_a_failing_listener_is_logged_and_the_others_still_hear(caplog: pytest.LogCaptureFixture) -> None:
    pool = AccountPool([Account.from_token("token-a", name="a")], max_waiters=1, wait_timeout_s=5)

    def broken(account_id: str) -> None:
        raise RuntimeError("listener bug")

    heard: list[str] = []
    pool.subscribe(broken)
    pool.subscribe(heard.append)
    with caplog.at_level(logging.ERROR, logger="deepseek_free_api.accounts"):
        pool.remove("a")
    assert heard == ["a"] and "a" not in pool
    assert any("listener" in r.getMessage() for r in caplog.records)
