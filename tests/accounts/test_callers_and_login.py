"""Caller-supplied tokens become shared accounts; accounts with credentials log in through a hook."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from deepseek_free_api.accounts import Account, AccountPool, AccountState, token_account_id
from deepseek_free_api.errors import (
    AuthenticationError,
    InvalidTokenError,
    NoUsableAccountError,
    UpstreamError,
    UpstreamServerError,
)

from .support import FakeClock, settle

PASSWORD = "pass-word-1234"


def test_same_caller_token_maps_to_one_account() -> None:
    pool = AccountPool([], max_waiters=5, wait_timeout_s=5)
    first = pool.register_caller_tokens(["T1", " T2 ", "T1", ""])
    second = pool.register_caller_tokens(["T2", "T1"])
    assert len(first) == 2 and set(first) == set(second)
    assert all(i.startswith("acct-") and "T1" not in i for i in first)
    assert {s.source for s in asyncio.run(pool.snapshot())} == {"caller"}


def test_two_requests_with_the_same_token_never_generate_at_once() -> None:
    async def main() -> int:
        pool = AccountPool([], max_waiters=5, wait_timeout_s=5)
        active: Counter[str] = Counter()
        peak = 0

        async def request() -> None:
            nonlocal peak
            ids = pool.register_caller_tokens(["shared-token"])  # each request parses its own header
            async with pool.lease(candidates=ids) as lease:
                active[lease.account.id] += 1
                peak = max(peak, active[lease.account.id])
                await asyncio.sleep(0)
                active[lease.account.id] -= 1

        await asyncio.gather(request(), request(), request())
        return peak

    assert asyncio.run(main()) == 1


def test_caller_token_equal_to_a_server_token_shares_its_lock() -> None:
    pool = AccountPool([Account.from_token("server-token", name="main")], max_waiters=1, wait_timeout_s=1)
    assert pool.register_caller_tokens(["server-token"]) == ["main"]


def test_caller_tokens_are_not_used_for_server_requests() -> None:
    async def main() -> None:
        pool = AccountPool([Account.from_token("server-token", name="main")], max_waiters=1, wait_timeout_s=1)
        [caller] = pool.register_caller_tokens(["caller-token"])
        for _ in range(3):
            async with pool.lease() as lease:
                assert lease.account.id == "main"
        # A caller cannot pull a server account into its request through prefer/require.
        with pytest.raises(UpstreamError):
            await pool.acquire(candidates=[caller], prefer="main", require=True)

    asyncio.run(main())


def test_idle_caller_accounts_are_evicted_least_recently_used_first() -> None:
    async def main() -> None:
        pool = AccountPool([], max_waiters=5, wait_timeout_s=5, max_caller_accounts=2)
        [old] = pool.register_caller_tokens(["old"])
        [busy] = pool.register_caller_tokens(["busy"])
        lease = await pool.acquire(candidates=[busy])
        pool.register_caller_tokens(["old"])  # "busy" is now the least recently used, but leased
        [new] = pool.register_caller_tokens(["new"])
        assert old not in pool and busy in pool and new in pool
        await pool.release(lease)  # the end of a generation counts as a use
        [newest] = pool.register_caller_tokens(["newest"])
        assert new not in pool and busy in pool and newest in pool and len(pool) == 2

    asyncio.run(main())


def test_login_runs_once_for_many_concurrent_requests() -> None:
    async def main() -> None:
        calls: list[str] = []

        async def login(account: Account) -> str:
            calls.append(account.id)
            await asyncio.sleep(0)
            return "logged-in-token"

        account = Account.from_credentials(email="a@example.com", password=PASSWORD)
        pool = AccountPool([account], max_waiters=10, wait_timeout_s=5, login=login)
        assert (await pool.snapshot())[0].state is AccountState.NEEDS_LOGIN
        tokens = []

        async def request() -> None:
            async with pool.lease() as lease:
                tokens.append(lease.account.token)
                await asyncio.sleep(0)

        await asyncio.gather(*(request() for _ in range(5)))
        assert calls == [account.id]
        assert tokens == ["logged-in-token"] * 5

    asyncio.run(main())


def test_rejected_token_triggers_a_new_login_on_the_next_lease() -> None:
    async def main() -> None:
        logins = 0

        async def login(account: Account) -> str:
            nonlocal logins
            logins += 1
            return f"token-{logins}"

        account = Account.from_credentials(email="a@example.com", password=PASSWORD, token="token-0")
        pool = AccountPool([account], max_waiters=1, wait_timeout_s=5, login=login)
        async with pool.lease() as lease:
            assert lease.account.token == "token-0"
            await pool.report(lease, InvalidTokenError("40003"))
        assert (await pool.snapshot())[0].state is AccountState.NEEDS_LOGIN
        async with pool.lease() as lease:
            assert lease.account.token == "token-1"

    asyncio.run(main())


def test_failed_login_marks_the_account_invalid_without_leaking_the_password() -> None:
    async def main() -> None:
        async def login(account: Account) -> str:
            raise AuthenticationError(f"PASSWORD_OR_USER_NAME_IS_WRONG for {account.password}")

        account = Account.from_credentials(email="a@example.com", password=PASSWORD)
        pool = AccountPool([account], max_waiters=1, wait_timeout_s=5, login=login)
        with pytest.raises(NoUsableAccountError, match="failing to log in") as caught:
            await pool.acquire()
        assert PASSWORD not in str(caught.value)
        [status] = await pool.snapshot()
        assert status.state is AccountState.INVALID and status.leases == 0
        assert status.reason is not None and "PASSWORD_OR_USER_NAME_IS_WRONG" in status.reason
        assert PASSWORD not in status.reason

    asyncio.run(main())


def test_failed_login_moves_on_to_another_account() -> None:
    async def main() -> None:
        async def login(account: Account) -> str:
            raise AuthenticationError("wrong password")

        broken = Account.from_credentials(email="a@example.com", password=PASSWORD, name="broken")
        good = Account.from_token("good-token", name="good")
        pool = AccountPool([broken, good], max_waiters=1, wait_timeout_s=5, login=login)
        async with pool.lease(prefer="broken") as lease:
            assert lease.account.id == "good"

    asyncio.run(main())


def test_transient_login_failure_cools_down_instead_of_invalidating() -> None:
    async def main() -> None:
        clock = FakeClock()

        async def login(account: Account) -> str:
            raise UpstreamServerError("502 from DeepSeek")

        account = Account.from_credentials(email="a@example.com", password=PASSWORD)
        pool = AccountPool(
            [account], max_waiters=1, wait_timeout_s=1, login=login, clock=clock, wall_clock=clock.wall
        )
        with pytest.raises(NoUsableAccountError, match="cooling down"):  # parked beyond the budget: 503
            await pool.acquire(timeout_s=0.01)
        assert (await pool.snapshot())[0].state is AccountState.COOLDOWN

    asyncio.run(main())


def test_cancelled_login_frees_the_account() -> None:
    async def main() -> None:
        started = asyncio.Event()

        async def login(account: Account) -> str:
            started.set()
            await asyncio.Event().wait()
            return "never"

        account = Account.from_credentials(email="a@example.com", password=PASSWORD)
        pool = AccountPool([account], max_waiters=1, wait_timeout_s=5, login=login)
        task = asyncio.create_task(pool.acquire())
        await started.wait()
        assert (await pool.snapshot())[0].state is AccountState.BUSY
        task.cancel()
        await settle(task.done)
        assert task.cancelled()
        assert (await pool.snapshot())[0].state is AccountState.NEEDS_LOGIN

    asyncio.run(main())


def test_credentials_without_a_login_hook_are_invalid_at_once() -> None:
    async def main() -> None:
        account = Account.from_credentials(email="a@example.com", password=PASSWORD)
        pool = AccountPool([account], max_waiters=1, wait_timeout_s=5)
        with pytest.raises(NoUsableAccountError, match="invalid"):
            await pool.acquire()

    asyncio.run(main())


def test_caller_id_clash_gets_a_longer_id_never_a_foreign_token() -> None:
    squatter = Account(id=token_account_id("caller-token"), token="someone-else")
    pool = AccountPool([squatter], max_waiters=1, wait_timeout_s=1)
    [account_id] = pool.register_caller_tokens(["caller-token"])
    assert account_id != squatter.id and account_id.startswith(squatter.id)
    account = pool.get(account_id)
    assert account is not None and account.token == "caller-token"


def test_two_accounts_with_one_token_are_refused() -> None:
    pool = AccountPool([Account.from_token("same", name="x")], max_waiters=1, wait_timeout_s=1)
    with pytest.raises(ValueError, match="same token"):
        pool.add(Account.from_token("same", name="y"))
    with pytest.raises(ValueError, match="duplicate"):
        pool.add(Account.from_token("other", name="x"))


def test_account_removed_during_login_still_serves_the_lease() -> None:
    async def main() -> None:
        proceed, started = asyncio.Event(), asyncio.Event()

        async def login(account: Account) -> str:
            started.set()
            await proceed.wait()
            return "late-token"

        account = Account.from_credentials(email="a@example.com", password=PASSWORD, name="x")
        pool = AccountPool([account], max_waiters=1, wait_timeout_s=5, login=login)
        task = asyncio.create_task(pool.acquire())
        await started.wait()
        pool.remove("x")
        proceed.set()
        lease = await task
        assert lease.account.token == "late-token" and "x" not in pool
        await pool.release(lease)

    asyncio.run(main())
