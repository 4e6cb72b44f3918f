"""The pool on the store's leases: owners, fences, expiry, renewal, loss, and a dead holder's generation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace

import pytest

from deepseek_free_api.accounts import Account, AccountPool, AccountState, Lease
from deepseek_free_api.errors import CapacityError, ThrottledError
from deepseek_free_api.stores import Lease as Grant
from deepseek_free_api.stores import Orphan
from deepseek_free_api.stores.memory import MemoryAccounts, MemoryLeases

from .support import WALL_START, FakeClock, settle, token_pool


async def state_of(pool: AccountPool, account_id: str) -> AccountState:
    return next(s.state for s in await pool.snapshot() if s.id == account_id)


def test_a_lease_records_owner_fence_and_wall_clock_times() -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = token_pool(clock, lease_ttl_s=60)
        first = await pool.acquire(owner="pid:42:req-1")
        assert (first.owner, first.acquired_at, first.expires_at) == (
            "pid:42:req-1",
            clock.wall(),
            clock.wall() + 60,
        )
        [status] = await pool.snapshot()
        assert (status.owner, status.fence, status.lease_expires_at) == (
            "pid:42:req-1",
            first.fence,
            clock.wall() + 60,
        )
        await pool.release(first)
        [status] = await pool.snapshot()
        assert status.owner is None and status.fence is None
        second = await pool.acquire()
        assert second.fence > first.fence and second.owner.startswith("pid:")
        await pool.release(second)

    asyncio.run(main())


def test_renew_moves_the_expiry_while_the_lease_is_held() -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = token_pool(clock)
        lease = await pool.acquire()
        assert lease.expires_at == WALL_START + clock.now + 30  # the default TTL
        clock.advance(20)
        assert await lease.renew()
        assert lease.expires_at == clock.wall() + 30
        [status] = await pool.snapshot()
        assert status.lease_expires_at == lease.expires_at
        await pool.release(lease)
        assert not await lease.renew()

    asyncio.run(main())


def test_a_stale_holder_can_neither_release_report_nor_renew() -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = token_pool(clock)
        lease = await pool.acquire()
        # The same account under an older fence: what a holder that lost its lease would have.
        ghost = Lease(lease.account, replace(lease.grant, fence=lease.fence - 1), pool)
        await pool.report(ghost, ThrottledError("too frequent"))
        await pool.release(ghost)
        assert not await ghost.renew()
        assert await state_of(pool, "a0") is AccountState.BUSY
        await pool.release(lease)
        assert await state_of(pool, "a0") is AccountState.FREE

    asyncio.run(main())


def test_a_report_after_the_account_was_leased_again_is_ignored() -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = token_pool(clock)
        first = await pool.acquire()
        await pool.release(first)
        second = await pool.acquire()
        await pool.report(first, ThrottledError("too frequent"))  # late news from the first holder
        await pool.release(second)
        [status] = await pool.snapshot()
        assert status.state is AccountState.FREE and status.errors == 0

    asyncio.run(main())


def test_an_expired_lease_frees_the_account_and_its_holder_can_no_longer_use_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = token_pool(clock, lease_ttl_s=60)
        stalled = await pool.acquire(owner="pid:1:slow")
        lost: list[str] = []
        stalled.when_lost(lambda: lost.append("lost"))
        clock.advance(61)  # never renewed: the process stalled, or could not reach the store
        with caplog.at_level(logging.WARNING, logger="deepseek_free_api.accounts"):
            assert not await stalled.renew() and stalled.lost and lost == ["lost"]
        assert "lost the lease on account a0" in caplog.text
        with pytest.raises(CapacityError, match="lost its lease"):
            await stalled.generating("session-1", 2)
        await pool.report(stalled, ThrottledError("too frequent"))
        await pool.release(stalled)
        [status] = await pool.snapshot()
        assert status.state is AccountState.FREE and status.errors == 0
        async with pool.lease(timeout_s=0) as lease:
            assert lease.fence > stalled.fence

    asyncio.run(main())


def test_the_pool_renews_held_leases_by_itself() -> None:
    # Real time: a 0.6 s TTL held for 2 s stays held, because the pool renews it every 0.2 s.
    async def main() -> None:
        pool = AccountPool(
            [Account.from_token("t", name="a0")], max_waiters=1, wait_timeout_s=5, lease_ttl_s=0.6
        )
        async with pool:
            lease = await pool.acquire()
            first_expiry = lease.expires_at
            await asyncio.sleep(2)
            assert not lease.lost and lease.expires_at > first_expiry + 1
            with pytest.raises(CapacityError):
                await pool.acquire(timeout_s=0.1)
            await pool.release(lease)
            async with pool.lease(timeout_s=1):
                pass

    asyncio.run(main())


class SlowLeases(MemoryLeases):
    """A store that takes a while per call (a busy SQLite file, a far Redis)."""

    CALL_S = 0.1

    async def renew(self, lease: Grant, ttl_s: float) -> Grant | None:
        await asyncio.sleep(self.CALL_S)
        return await super().renew(lease, ttl_s)

    async def renew_all(self, leases: Sequence[Grant], ttl_s: float) -> list[Grant | None]:
        await asyncio.sleep(self.CALL_S)
        return await super().renew_all(leases, ttl_s)


def test_many_held_leases_on_a_slow_store_are_all_renewed_in_time() -> None:
    # Real time: 40 leases with a 1.5 s TTL on a store taking 0.1 s per call. Renewed one call
    # per lease, a round took 4 s and every lease expired; renewed in one call, none does.
    async def main() -> None:
        leases = SlowLeases()
        accounts = [Account.from_token(f"t{i}", name=f"a{i}") for i in range(40)]
        pool = AccountPool(
            accounts,
            max_waiters=1,
            wait_timeout_s=5,
            lease_ttl_s=1.5,
            leases=leases,
            records=MemoryAccounts(leases),
        )
        async with pool:
            held = [await pool.acquire() for _ in accounts]
            await asyncio.sleep(4)
            assert [lease.account.id for lease in held if lease.lost] == []
            for lease in held:
                await pool.release(lease)

    asyncio.run(main())


def test_the_next_holder_stops_a_dead_holders_generation_first() -> None:
    async def main() -> None:
        clock = FakeClock()
        leases = MemoryLeases(clock.wall)  # one store, two processes' pools
        records = MemoryAccounts(leases, clock.wall)
        stops: list[tuple[str, Orphan]] = []
        confirm = [False, True]

        async def stop_orphan(account: Account, orphan: Orphan) -> bool:
            stops.append((account.id, orphan))
            return confirm.pop(0)

        def pool() -> AccountPool:
            return token_pool(clock, lease_ttl_s=30, stop_orphan=stop_orphan, leases=leases, records=records)

        killed, survivor = pool(), pool()
        dead = await killed.acquire(owner="pid:666:killed")
        await dead.generating("session-of-the-dead", 4)
        await killed.aclose()  # SIGKILL: no renewal, no release
        with pytest.raises(CapacityError):
            await survivor.acquire(timeout_s=0.05)  # its lease is still live
        clock.advance(31)
        with pytest.raises(CapacityError):
            await survivor.acquire(timeout_s=0.05)  # the stop was not confirmed: the account stays out
        assert [(a, o.session_id, o.message_id, o.owner) for a, o in stops] == [
            ("a0", "session-of-the-dead", 4, "pid:666:killed")
        ]
        clock.advance(31)  # the next try, once the lease left to expire has expired
        async with survivor.lease(timeout_s=1) as lease:
            assert lease.account.id == "a0"
        assert len(stops) == 2 and stops[1][1].session_id == "session-of-the-dead"
        async with survivor.lease(timeout_s=1):
            assert len(stops) == 2  # released normally: nothing left to stop

    asyncio.run(main())


def test_waiter_cancelled_as_the_account_is_handed_to_it_leaves_the_account_free() -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = token_pool(clock)
        holder = await pool.acquire()
        waiter = asyncio.create_task(pool.acquire())
        await settle(lambda: pool.waiting == 1)
        await pool.release(holder)  # the pool hands a0 to the waiter soon...
        waiter.cancel()  # ...and the waiter is cancelled in the same loop iteration
        await settle(waiter.done)
        assert waiter.cancelled()
        [status] = await pool.snapshot()
        assert status.state is AccountState.FREE and status.leases == 1
        async with await pool.acquire(timeout_s=0) as lease:
            assert lease.account.id == "a0"

    asyncio.run(main())


def test_the_async_context_manager_releases_through_the_pool() -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = token_pool(clock)
        with pytest.raises(RuntimeError):
            async with await pool.acquire() as lease:
                raise RuntimeError("boom")
        assert lease.released and await state_of(pool, "a0") is AccountState.FREE

    asyncio.run(main())
