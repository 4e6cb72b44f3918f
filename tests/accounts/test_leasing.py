"""Leases: exclusivity, FIFO order, the bounded queue, timeouts, cancellation, affinity and failover."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest

from deepseek_free_api.accounts import Account, AccountPool, AccountState, Lease
from deepseek_free_api.errors import CapacityError

from .support import settle


def make_pool(n: int = 1, *, max_waiters: int = 100, wait_timeout_s: float = 30.0) -> AccountPool:
    accounts = [Account.from_token(f"token-{i}", name=f"a{i}") for i in range(n)]
    return AccountPool(accounts, max_waiters=max_waiters, wait_timeout_s=wait_timeout_s)


async def states(pool: AccountPool) -> dict[str, AccountState]:
    return {status.id: status.state for status in await pool.snapshot()}


def test_never_two_leases_on_one_account() -> None:
    async def main() -> tuple[Counter[str], Counter[str]]:
        pool = make_pool(3)
        current: Counter[str] = Counter()
        peak: Counter[str] = Counter()
        used: Counter[str] = Counter()
        rng = random.Random(7)

        async def request() -> None:
            async with pool.lease() as lease:
                name = lease.account.id
                current[name] += 1
                peak[name] = max(peak[name], current[name])
                used[name] += 1
                for _ in range(rng.randint(0, 5)):
                    await asyncio.sleep(0)
                current[name] -= 1

        await asyncio.gather(*(request() for _ in range(60)))
        assert pool.waiting == 0
        assert all(s.state is AccountState.FREE for s in await pool.snapshot())
        return peak, used

    peak, used = asyncio.run(main())
    assert set(peak) == {"a0", "a1", "a2"}
    assert max(peak.values()) == 1
    assert sum(used.values()) == 60


def test_round_robin_least_recently_used() -> None:
    async def main() -> list[str]:
        pool = make_pool(3)
        order = []
        for _ in range(6):
            async with pool.lease() as lease:
                order.append(lease.account.id)
        return order

    assert asyncio.run(main()) == ["a0", "a1", "a2", "a0", "a1", "a2"]


def test_waiters_are_served_in_arrival_order() -> None:
    async def main() -> list[int]:
        pool = make_pool(1)
        served: list[int] = []
        holder = await pool.acquire()

        async def request(i: int) -> None:
            async with pool.lease():
                served.append(i)
                await asyncio.sleep(0)

        tasks = []
        for i in range(5):
            tasks.append(asyncio.create_task(request(i)))
            await settle(lambda: pool.waiting == len(tasks))
        await pool.release(holder)
        await asyncio.gather(*tasks)
        return served

    assert asyncio.run(main()) == [0, 1, 2, 3, 4]


def test_full_queue_refuses_at_once_with_retry_after() -> None:
    async def main() -> None:
        pool = make_pool(1, max_waiters=1)
        holder = await pool.acquire()
        queued = asyncio.create_task(pool.acquire())
        await settle(lambda: pool.waiting == 1)
        with pytest.raises(CapacityError) as caught:
            await pool.acquire()
        assert caught.value.retry_after is not None and caught.value.retry_after >= 1
        assert pool.waiting == 1
        await pool.release(holder)
        await pool.release(await queued)

    asyncio.run(main())


def test_no_waiting_allowed_still_serves_a_free_account() -> None:
    async def main() -> None:
        pool = make_pool(1, max_waiters=0)
        async with pool.lease() as lease:
            assert lease.account.id == "a0"
            with pytest.raises(CapacityError):
                await pool.acquire()

    asyncio.run(main())


def test_timeout_raises_capacity_error_and_leaves_the_queue() -> None:
    async def main() -> None:
        pool = make_pool(1, wait_timeout_s=0.02)
        holder = await pool.acquire()
        with pytest.raises(CapacityError) as caught:
            await pool.acquire()
        assert caught.value.retry_after is not None and caught.value.retry_after >= 1
        assert pool.waiting == 0
        await pool.release(holder)
        assert (await states(pool)) == {"a0": AccountState.FREE}

    asyncio.run(main())


def test_cancelled_waiter_leaves_and_the_next_one_is_served() -> None:
    async def main() -> None:
        pool = make_pool(1)
        holder = await pool.acquire()
        first = asyncio.create_task(pool.acquire())
        second = asyncio.create_task(pool.acquire())
        await settle(lambda: pool.waiting == 2)
        first.cancel()
        await settle(first.done)
        assert first.cancelled() and pool.waiting == 1
        await pool.release(holder)
        lease = await second
        assert lease.account.id == "a0" and pool.waiting == 0
        await pool.release(lease)
        assert (await states(pool)) == {"a0": AccountState.FREE}

    asyncio.run(main())


def test_waiter_cancelled_right_after_being_handed_an_account_passes_it_on() -> None:
    async def main() -> None:
        pool = make_pool(1)
        holder = await pool.acquire()
        first = asyncio.create_task(pool.acquire())
        second = asyncio.create_task(pool.acquire())
        await settle(lambda: pool.waiting == 2)
        await pool.release(holder)  # hands a0 to `first` before it has run again
        first.cancel()
        lease = await second
        assert first.cancelled()
        assert lease.account.id == "a0"
        [status] = await pool.snapshot()
        assert status.state is AccountState.BUSY and status.leases == 2  # the abandoned one not counted
        await pool.release(lease)

    asyncio.run(main())


def test_lease_is_released_on_exception_and_on_cancellation() -> None:
    async def main() -> None:
        pool = make_pool(1)
        with pytest.raises(RuntimeError):
            async with pool.lease():
                raise RuntimeError("boom")
        assert (await states(pool)) == {"a0": AccountState.FREE}

        entered = asyncio.Event()

        async def generation() -> None:
            async with pool.lease():
                entered.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(generation())
        await entered.wait()
        assert (await states(pool)) == {"a0": AccountState.BUSY}
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await states(pool)) == {"a0": AccountState.FREE}

    asyncio.run(main())


def test_releasing_twice_does_not_free_a_later_lease() -> None:
    async def main() -> None:
        pool = make_pool(1)
        first = await pool.acquire()
        await pool.release(first)
        second = await pool.acquire()
        await pool.release(first)
        assert first.released and not second.released
        assert (await states(pool)) == {"a0": AccountState.BUSY}
        async with second:
            pass
        assert (await states(pool)) == {"a0": AccountState.FREE}

    asyncio.run(main())


def test_prefer_takes_the_named_account_when_free_and_falls_back_when_busy() -> None:
    async def main() -> None:
        pool = make_pool(2)
        async with pool.lease(prefer="a1") as lease:
            assert lease.account.id == "a1"
            async with pool.lease(prefer="a1") as other:
                assert other.account.id == "a0"

    asyncio.run(main())


def test_require_waits_for_the_session_owner_even_if_others_are_free() -> None:
    async def main() -> None:
        pool = make_pool(2)
        owner = await pool.acquire(prefer="a0")
        waiting = asyncio.create_task(pool.acquire(prefer="a0", require=True))
        await settle(lambda: pool.waiting == 1)
        assert not waiting.done() and (await states(pool))["a1"] is AccountState.FREE
        await pool.release(owner)
        lease = await waiting
        assert lease.account.id == "a0"
        await pool.release(lease)
        with pytest.raises(ValueError):
            await pool.acquire(require=True)

    asyncio.run(main())


def test_a_waiter_for_another_account_does_not_block_the_queue() -> None:
    async def main() -> None:
        pool = make_pool(2)
        owner = await pool.acquire(prefer="a0")
        for_owner = asyncio.create_task(pool.acquire(prefer="a0", require=True))
        await settle(lambda: pool.waiting == 1)
        async with pool.lease() as lease:  # arrives later, but a1 is free for it
            assert lease.account.id == "a1"
        await pool.release(owner)
        await pool.release(await for_owner)

    asyncio.run(main())


def test_exclude_fails_over_and_fails_fast_when_nothing_is_left() -> None:
    async def main() -> None:
        pool = make_pool(2)
        async with pool.lease(exclude=["a0"]) as lease:
            assert lease.account.id == "a1"
        with pytest.raises(CapacityError, match="no other account"):
            await pool.acquire(exclude=["a0", "a1"])
        assert pool.waiting == 0

    asyncio.run(main())


def test_candidates_limit_the_choice_and_unknown_ids_fail_fast() -> None:
    async def main() -> None:
        pool = make_pool(3)
        async with pool.lease(candidates=["a2"]) as lease:
            assert lease.account.id == "a2"
        with pytest.raises(Exception, match="no DeepSeek accounts"):
            await pool.acquire(candidates=["nope"])
        empty = AccountPool([], max_waiters=5, wait_timeout_s=5)
        with pytest.raises(Exception, match="no DeepSeek accounts"):
            await empty.acquire()

    asyncio.run(main())


def test_removed_account_can_be_released_safely() -> None:
    async def main() -> Lease:
        pool = make_pool(2)
        lease = await pool.acquire(prefer="a0")
        assert pool.remove("a0") is lease.account
        await pool.release(lease)
        assert "a0" not in pool and len(pool) == 1
        return lease

    assert asyncio.run(main()).released
