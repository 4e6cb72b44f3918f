"""Account failure policy: invalid marks re-checked after a cooldown, re-login, masked login logs, faults."""

from __future__ import annotations

import asyncio
import logging

import pytest

from deepseek_free_api.accounts import Account, AccountPool, AccountState, AccountStatus, is_account_fault
from deepseek_free_api.errors import (
    AccountBannedError,
    AccountBusyError,
    AuthenticationError,
    CapacityError,
    ContentFilteredError,
    EdgeBlockedError,
    InvalidPowError,
    InvalidSessionError,
    InvalidTokenError,
    MutedError,
    NoUsableAccountError,
    ServiceError,
    ThrottledError,
    UpstreamServerError,
)

from .support import FakeClock, settle, token_pool

PASSWORD = "pass-word-1234"
EMAIL = "someone@example.com"


async def status(pool: AccountPool, account_id: str) -> AccountStatus:
    return next(s for s in await pool.snapshot() if s.id == account_id)


async def reject_token(pool: AccountPool, account_id: str) -> None:
    lease = await pool.acquire(candidates=[account_id])
    await pool.report(lease, InvalidTokenError("40003"))
    await pool.release(lease)


def test_a_rejected_token_is_rechecked_after_the_cooldown_and_cleared_by_a_success() -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = token_pool(clock, 2)
        await reject_token(pool, "a0")
        invalid = await status(pool, "a0")
        assert invalid.state is AccountState.INVALID and invalid.until == pytest.approx(clock.wall() + 600)
        for _ in range(3):
            async with pool.lease() as lease:
                assert lease.account.id == "a1"
        clock.advance(600)
        assert (await status(pool, "a0")).state is AccountState.PROBATION
        async with pool.lease() as lease:  # one lease tries the account again
            assert lease.account.id == "a0"
            await pool.report(lease, None)
        cleared = await status(pool, "a0")
        assert cleared.state is AccountState.FREE and cleared.reason is None

    asyncio.run(main())


def test_a_failed_recheck_arms_the_mark_again() -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = token_pool(clock, n=1)
        await reject_token(pool, "a0")
        clock.advance(600)
        await reject_token(pool, "a0")
        again = await status(pool, "a0")
        assert again.state is AccountState.INVALID and again.until == pytest.approx(clock.wall() + 600)
        with pytest.raises(NoUsableAccountError, match="token DeepSeek rejected"):
            await pool.acquire()

    asyncio.run(main())


def test_a_waiter_is_served_when_the_recheck_falls_within_its_budget() -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = token_pool(clock, n=1, invalid_recheck_s=5)
        await reject_token(pool, "a0")
        waiter = asyncio.create_task(pool.acquire())
        await settle(lambda: pool.waiting == 1)
        clock.advance(5)
        pool.wake()
        lease = await waiter
        assert lease.account.id == "a0"
        await pool.release(lease)

    asyncio.run(main())


def test_reset_clears_an_invalid_mark_at_once() -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = token_pool(clock, n=1)
        await reject_token(pool, "a0")
        await pool.reset("a0")
        async with pool.lease() as lease:
            assert lease.account.id == "a0"

    asyncio.run(main())


def test_a_failed_login_is_tried_again_after_the_cooldown() -> None:
    async def main() -> None:
        clock = FakeClock()
        answers: list[str | Exception] = [
            AuthenticationError("PASSWORD_OR_USER_NAME_IS_WRONG"),
            "fresh-token",
        ]

        async def login(account: Account) -> str:
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

        account = Account.from_credentials(email=EMAIL, password=PASSWORD, name="x")
        pool = AccountPool(
            [account], max_waiters=1, wait_timeout_s=5, login=login, clock=clock, wall_clock=clock.wall
        )
        with pytest.raises(NoUsableAccountError, match="failing to log in"):
            await pool.acquire()
        assert (await status(pool, "x")).state is AccountState.INVALID
        clock.advance(600)  # the default invalid_recheck_s
        async with pool.lease() as lease:
            assert lease.account.token == "fresh-token"
        assert (await status(pool, "x")).state is AccountState.FREE

    asyncio.run(main())


def test_a_login_account_whose_token_is_rejected_logs_in_again_within_the_request() -> None:
    async def main() -> None:
        clock = FakeClock()
        logins = 0

        async def login(account: Account) -> str:
            nonlocal logins
            logins += 1
            return f"login-token-{logins}"

        account = Account.from_credentials(email=EMAIL, password=PASSWORD, name="x", token="old-token")
        spare = Account.from_token("spare-token", name="spare")
        pool = AccountPool(
            [account, spare],
            max_waiters=1,
            wait_timeout_s=5,
            min_interval_s=1,
            login=login,
            clock=clock,
            wall_clock=clock.wall,
        )
        # What the failover loop does: the attempt fails on the account's token...
        lease = await pool.acquire(prefer="x")
        await pool.report(lease, InvalidTokenError("40003"))
        await pool.release(lease)
        assert pool.can_relogin("x") and not pool.can_relogin("spare")
        # ...so the next attempt asks for the same account, which logs in first.
        retry = await pool.acquire(prefer="x")
        assert retry.account.id == "x" and retry.account.token == "login-token-1"
        assert not pool.can_relogin("x")
        await pool.release(retry)

    asyncio.run(main())


def test_a_token_only_account_cannot_log_in_again() -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = token_pool(clock, 2)
        await reject_token(pool, "a0")
        assert not pool.can_relogin("a0") and not pool.can_relogin("unknown")

    asyncio.run(main())


def test_failed_logins_are_logged_masked(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async def login(account: Account) -> str:
            raise AuthenticationError(f"wrong password {PASSWORD} for {EMAIL}")

        account = Account.from_credentials(email=EMAIL, password=PASSWORD, token="stale-token-1234")
        pool = AccountPool([account], max_waiters=1, wait_timeout_s=5, login=login)
        lease = await pool.acquire()
        await pool.report(lease, InvalidTokenError("40003"))
        await pool.release(lease)
        with (
            caplog.at_level(logging.WARNING, logger="deepseek_free_api.accounts"),
            pytest.raises(NoUsableAccountError),
        ):
            await pool.acquire()
        [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
        text = record.getMessage()
        assert "login" in text and account.id[-4:] in text
        for secret in (account.id, PASSWORD, EMAIL, "stale-token-1234", "login-token"):
            assert secret not in text

    asyncio.run(main())


def test_a_retryable_login_failure_is_logged_too(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async def login(account: Account) -> str:
            raise UpstreamServerError("502 from DeepSeek")

        pool = AccountPool(
            [Account.from_credentials(email=EMAIL, password=PASSWORD)],
            max_waiters=1,
            wait_timeout_s=5,
            login=login,
        )
        with (
            caplog.at_level(logging.WARNING, logger="deepseek_free_api.accounts"),
            pytest.raises(NoUsableAccountError),
        ):
            await pool.acquire(timeout_s=0.01)
        assert any(r.levelno == logging.WARNING and "login" in r.getMessage() for r in caplog.records)

    asyncio.run(main())


@pytest.mark.parametrize(
    ("error", "fault"),
    [
        (InvalidTokenError("40003"), True),
        (AccountBannedError("no biz_data"), True),
        (MutedError("muted"), True),
        (ThrottledError("too frequent"), True),
        (AccountBusyError("A message is being generated"), True),
        (ContentFilteredError("filtered"), False),
        (InvalidPowError("40301"), False),
        (InvalidSessionError("gone"), False),
        (UpstreamServerError("generation_err"), False),
        (EdgeBlockedError("waf"), False),
        (CapacityError("full"), False),
    ],
)
def test_account_faults_are_told_apart_from_the_request_s(error: ServiceError, fault: bool) -> None:
    assert is_account_fault(error) is fault
