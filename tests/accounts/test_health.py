"""Account health: mutes, cooldowns, pacing, invalid tokens and the snapshot, with a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from deepseek_free_api.accounts import Account, AccountPool, AccountState, AccountStatus
from deepseek_free_api.errors import (
    AccountBusyError,
    CapacityError,
    ContentFilteredError,
    InvalidTokenError,
    MutedError,
    NoUsableAccountError,
    ThrottledError,
    UpstreamError,
    UpstreamServerError,
)

from .support import WALL_START, FakeClock, settle


def make_pool(
    clock: FakeClock, n: int = 2, *, wait_timeout_s: float = 30.0, min_interval_s: float = 0.0
) -> AccountPool:
    accounts = [Account.from_token(f"token-{i}", name=f"a{i}") for i in range(n)]
    return AccountPool(
        accounts,
        max_waiters=10,
        wait_timeout_s=wait_timeout_s,
        min_interval_s=min_interval_s,
        clock=clock,
        wall_clock=clock.wall,
    )


async def status(pool: AccountPool, account_id: str) -> AccountStatus:
    return next(s for s in await pool.snapshot() if s.id == account_id)


async def fail(pool: AccountPool, account_id: str, error: Exception) -> None:
    async with pool.lease(candidates=[account_id]) as lease:
        assert isinstance(error, UpstreamError)
        await pool.report(lease, error)


def test_muted_account_is_skipped_until_mute_until() -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = make_pool(clock)
        await fail(pool, "a0", MutedError("user is muted", mute_until=clock.wall() + 100))
        muted = await status(pool, "a0")
        assert muted.state is AccountState.MUTED and muted.until == pytest.approx(clock.wall() + 100)
        for _ in range(3):
            async with pool.lease() as lease:
                assert lease.account.id == "a1"
        clock.advance(101)
        assert (await status(pool, "a0")).state is AccountState.FREE
        async with pool.lease() as lease:
            assert lease.account.id == "a0"

    asyncio.run(main())


def test_mute_beyond_the_wait_budget_fails_fast_with_honest_retry_after() -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = make_pool(clock, n=1, wait_timeout_s=10)
        await fail(pool, "a0", MutedError("user is muted", mute_until=clock.wall() + 3600))
        with pytest.raises(NoUsableAccountError, match="muted") as caught:
            await pool.acquire()
        assert caught.value.retry_after == pytest.approx(3600)
        assert pool.waiting == 0

    asyncio.run(main())


def test_waiter_is_served_when_a_cooldown_ends() -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = make_pool(clock, n=1)
        await fail(pool, "a0", ThrottledError("too frequent"))  # default 20 s cooldown
        cooling = await status(pool, "a0")
        assert cooling.state is AccountState.COOLDOWN
        assert cooling.until == pytest.approx(clock.wall() + 20)
        waiter = asyncio.create_task(pool.acquire())
        await settle(lambda: pool.waiting == 1)
        clock.advance(10)
        pool.wake()
        await settle(waiter.done)
        assert not waiter.done()
        clock.advance(10)
        pool.wake()
        lease = await waiter
        assert lease.account.id == "a0"
        await pool.release(lease)

    asyncio.run(main())


def test_error_kinds_map_to_states() -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = make_pool(clock, n=1)
        await fail(pool, "a0", ThrottledError("slow down", retry_after=45))
        assert (await status(pool, "a0")).until == pytest.approx(clock.wall() + 45)
        clock.advance(45)
        await fail(pool, "a0", AccountBusyError("A message is being generated"))
        assert (await status(pool, "a0")).until == pytest.approx(clock.wall() + 5)
        clock.advance(5)
        await fail(pool, "a0", ContentFilteredError("filtered"))
        assert (await status(pool, "a0")).state is AccountState.FREE
        await fail(pool, "a0", UpstreamServerError("generation_err"))
        assert (await status(pool, "a0")).state is AccountState.COOLDOWN
        clock.advance(5)
        await fail(pool, "a0", InvalidTokenError("40003"))
        final = await status(pool, "a0")
        assert final.state is AccountState.INVALID and final.errors == 5
        assert final.last_error == "InvalidTokenError"
        with pytest.raises(NoUsableAccountError, match="token DeepSeek rejected"):
            await pool.acquire()
        await pool.reset("a0")
        async with pool.lease() as lease:
            await pool.report(lease, None)
        assert (await status(pool, "a0")).successes == 1

    asyncio.run(main())


def test_new_token_revives_an_invalid_account() -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = make_pool(clock, n=1)
        await fail(pool, "a0", InvalidTokenError("expired"))
        pool.update_token("a0", "fresh-token")
        async with pool.lease() as lease:
            assert lease.account.token == "fresh-token"

    asyncio.run(main())


def test_invalid_caller_token_fails_waiters_on_it_at_once() -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = make_pool(clock, n=0)
        ids = pool.register_caller_tokens(["caller-token"])
        holder = await pool.acquire(candidates=ids)
        waiter = asyncio.create_task(pool.acquire(candidates=ids))
        await settle(lambda: pool.waiting == 1)
        await pool.report(holder, InvalidTokenError("40003"))
        with pytest.raises(InvalidTokenError):
            await waiter
        await pool.release(holder)

    asyncio.run(main())


def test_min_interval_paces_each_account() -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = make_pool(clock, n=1, min_interval_s=2.5)
        async with pool.lease():
            clock.advance(1)
        pacing = await status(pool, "a0")
        assert pacing.state is AccountState.PACING and pacing.until == pytest.approx(clock.wall() + 2.5)
        waiter = asyncio.create_task(pool.acquire())
        await settle(lambda: pool.waiting == 1)
        clock.advance(2.4)
        pool.wake()
        await settle(waiter.done)
        assert not waiter.done()
        clock.advance(0.1)
        pool.wake()
        await pool.release(await waiter)

    asyncio.run(main())


def test_pacing_sends_the_next_request_to_a_rested_account() -> None:
    async def main() -> list[str]:
        clock = FakeClock()
        pool = make_pool(clock, n=2, min_interval_s=2.5)
        used = []
        for _ in range(2):
            async with pool.lease(prefer="a0") as lease:
                used.append(lease.account.id)
        return used

    assert asyncio.run(main()) == ["a0", "a1"]


def test_snapshot_shows_states_and_totals() -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = make_pool(clock, n=3)
        await fail(pool, "a2", ThrottledError("too frequent"))
        busy = await pool.acquire(prefer="a0", owner="pid:7:req-1")
        snapshot = {s.id: s for s in await pool.snapshot()}
        assert snapshot["a0"] == AccountStatus(
            id="a0",
            source="server",
            state=AccountState.BUSY,
            until=None,
            in_flight=1,
            leases=1,
            successes=0,
            errors=0,
            last_error=None,
            reason=None,
            owner="pid:7:req-1",
            fence=busy.fence,
            leased_at=clock.wall(),
            lease_expires_at=clock.wall() + 30,  # pool.lease_ttl_s
        )
        assert snapshot["a1"].state is AccountState.FREE and snapshot["a1"].leases == 0
        assert snapshot["a2"].state is AccountState.COOLDOWN
        assert snapshot["a2"].until == pytest.approx(WALL_START + clock.now + 20)
        assert (snapshot["a2"].leases, snapshot["a2"].errors) == (1, 1)
        await pool.release(busy)

    asyncio.run(main())


def test_full_queue_retry_after_counts_the_cooldown() -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = AccountPool(
            [Account.from_token("t", name="a0")],
            max_waiters=1,
            wait_timeout_s=60,
            clock=clock,
            wall_clock=clock.wall,
        )
        await fail(pool, "a0", ThrottledError("too frequent", retry_after=30))
        queued = asyncio.create_task(pool.acquire())
        await settle(lambda: pool.waiting == 1)
        with pytest.raises(CapacityError) as caught:
            await pool.acquire()
        # 30 s of cooldown, then the queued request's generation (an estimate) goes first.
        assert caught.value.retry_after is not None and 30 < caught.value.retry_after <= 40
        queued.cancel()
        await settle(queued.done)
        assert pool.waiting == 0

    asyncio.run(main())


def test_pool_wakes_itself_when_pacing_ends() -> None:
    # The one test on real time: the timer that re-checks the queue when a pause ends.
    async def main() -> None:
        account = Account.from_token("t", name="a0")
        pool = AccountPool([account], max_waiters=1, wait_timeout_s=5, min_interval_s=0.02)
        async with pool.lease():
            pass
        async with asyncio.timeout(5):
            async with pool.lease() as lease:
                assert lease.account.id == "a0"

    asyncio.run(main())
