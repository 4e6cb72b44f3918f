"""Pacing in the pool: an hourly quota per account (a window in the store), one re-check at a time."""

from __future__ import annotations

import asyncio

import pytest

from deepseek_free_api.accounts import AccountPool, AccountState
from deepseek_free_api.errors import InvalidTokenError, NoUsableAccountError

from .support import FakeClock, settle, token_pool


async def use(pool: AccountPool) -> str:
    async with pool.lease() as lease:
        return lease.account.id


def test_an_account_at_its_quota_rests_until_the_window_frees_a_slot() -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = token_pool(clock, 2, max_generations_per_hour=2)
        async with pool:
            served = [await use(pool) for _ in range(2)]
            clock.advance(600)
            served += [await use(pool) for _ in range(2)]
            assert sorted(served) == ["a0", "a0", "a1", "a1"]
            with pytest.raises(NoUsableAccountError) as refused:
                await asyncio.wait_for(use(pool), 5)  # at once, not after pool.wait_timeout_s
            assert "2 at the hourly quota of pool.max_generations_per_hour" in refused.value.message
            assert refused.value.retry_after == pytest.approx(3000, abs=1)
            assert {s.state for s in await pool.snapshot()} == {AccountState.QUOTA}
            clock.advance(3000)  # the first two generations left the window; the later two did not
            assert sorted([await use(pool), await use(pool)]) == ["a0", "a1"]
            with pytest.raises(NoUsableAccountError) as again:
                await asyncio.wait_for(use(pool), 5)
            assert again.value.retry_after == pytest.approx(600, abs=1)

    asyncio.run(main())


def test_no_quota_by_default() -> None:
    async def main() -> None:
        pool = token_pool(FakeClock(), 1)
        async with pool:
            assert [await use(pool) for _ in range(50)] == ["a0"] * 50

    asyncio.run(main())


def test_accounts_due_for_a_recheck_are_tried_one_at_a_time() -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = token_pool(clock, 3)
        async with pool:
            for account_id in ("a0", "a1"):  # both rejected now, both due for a re-check in 600 s
                lease = await pool.acquire(candidates=[account_id])
                await pool.report(lease, InvalidTokenError("40003"))
                await pool.release(lease)
            clock.advance(600)
            waiters = [asyncio.create_task(pool.acquire()) for _ in range(3)]
            await settle(lambda: sum(w.done() for w in waiters) >= 2)
            await settle(rounds=20)
            held = {w.result().account.id: w.result() for w in waiters if w.done()}
            assert len(held) == 2 and "a2" in held, held  # the healthy one, and one re-check
            probe = next(lease for account_id, lease in held.items() if account_id != "a2")
            await pool.report(probe, None)  # the re-check worked: the other may be tried now
            await pool.release(probe)
            third = await asyncio.wait_for(next(w for w in waiters if not w.done()), 5)
            assert {probe.account.id, third.account.id} == {"a0", "a1"}
            for lease in (third, held["a2"]):
                await pool.release(lease)

    asyncio.run(main())
