"""The hourly quota per account (``pool.max_generations_per_hour``): a sliding window in the store."""

from __future__ import annotations

import asyncio

import pytest

from deepseek_free_api.accounts import AccountPool, AccountState
from deepseek_free_api.errors import NoUsableAccountError

from .support import FakeClock, token_pool


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
            assert {s.state for s in await pool.snapshot()} == {AccountState.PACING}
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
