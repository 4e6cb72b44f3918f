"""Pools of many accounts: a release ranks the pool once for all waiting requests, and a stale
local view still finds the one account free everywhere."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from deepseek_free_api.accounts import Account, AccountPool, matching, queue
from deepseek_free_api.stores.memory import MemoryAccounts, MemoryLeases

from .support import FakeClock, settle


def test_a_release_ranks_the_pool_once_not_once_per_waiting_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """500 requests wait for 50 busy accounts. Each release lets a pass match the queue to the
    accounts: it must rank the pool once, not once per waiting request (500 rankings of the pool
    per release, O(waiters x accounts) of the event loop each time an account frees up)."""
    ranked = 0
    real_rank = matching.rank

    def counted(*args: Any) -> list[matching.Slot]:
        nonlocal ranked
        ranked += 1
        return real_rank(*args)

    async def main() -> None:
        nonlocal ranked
        clock = FakeClock()
        accounts = [Account.from_token(f"token-{i}", name=f"a{i}") for i in range(50)]
        pool = AccountPool(accounts, max_waiters=1000, wait_timeout_s=30, clock=clock, wall_clock=clock.wall)
        async with pool:
            held = [await pool.acquire() for _ in range(50)]
            waiting = [asyncio.ensure_future(pool.acquire()) for _ in range(500)]
            await settle(lambda: pool.waiting == 500)
            assert pool.waiting == 500
            monkeypatch.setattr(matching, "rank", counted)
            monkeypatch.setattr(queue, "rank", counted, raising=False)  # wherever the pool calls it from
            ranked = 0
            for released, lease in enumerate(held, 1):
                await pool.release(lease)

                def served_now(n: int = released) -> bool:
                    return sum(task.done() for task in waiting) >= n

                await settle(served_now)
            served = [task.result() for task in waiting if task.done()]
            assert len(served) == 50 and len({lease.account.id for lease in served}) == 50
            for task in waiting:
                task.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)
            for lease in served:
                await pool.release(lease)

    asyncio.run(main())
    assert ranked <= 5 * 50, ranked  # about one per release; it was 500 per release


def test_a_waiter_finds_the_one_account_free_behind_many_held_elsewhere() -> None:
    """Another process holds 40 of 41 accounts; this one has not heard of it yet (its view says all
    are free). It asks the store for a few at a time: it must still reach the 41st."""

    async def main() -> None:
        clock = FakeClock()
        leases = MemoryLeases(clock.wall)
        records = MemoryAccounts(leases, clock.wall)
        accounts = [Account.from_token(f"token-{i}", name=f"a{i:02d}") for i in range(41)]

        def process() -> AccountPool:
            return AccountPool(
                max_waiters=5,
                wait_timeout_s=5,
                leases=leases,
                records=records,
                clock=clock,
                wall_clock=clock.wall,
            )

        other, this = process(), process()
        await other.load(accounts)
        await this.load(accounts)
        async with other, this:
            held = [await other.acquire(candidates=[f"a{i:02d}"]) for i in range(40)]
            lease = await asyncio.wait_for(this.acquire(), 5)
            assert lease.account.id == "a40"
            await this.release(lease)
            for grant in held:
                await other.release(grant)

    asyncio.run(main())
