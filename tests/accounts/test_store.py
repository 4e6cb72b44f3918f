"""The lease store interface on the memory pool: owners, fences, wall-clock expiry, renewal, hand-over."""

from __future__ import annotations

import asyncio
import logging

import pytest

from deepseek_free_api.accounts import AccountState, Lease, LeaseStore
from deepseek_free_api.errors import ThrottledError

from .support import WALL_START, FakeClock, settle, token_pool


async def state_of(store: LeaseStore, account_id: str) -> AccountState:
    return next(s.state for s in await store.snapshot() if s.id == account_id)


def test_a_lease_records_owner_fence_and_wall_clock_times() -> None:
    async def main() -> None:
        clock = FakeClock()
        store: LeaseStore = token_pool(clock, lease_ttl_s=60)
        first = await store.acquire(owner="pid:42:req-1")
        assert (first.owner, first.acquired_at, first.expires_at) == (
            "pid:42:req-1",
            clock.wall(),
            clock.wall() + 60,
        )
        [status] = await store.snapshot()
        assert (status.owner, status.fence, status.lease_expires_at) == (
            "pid:42:req-1",
            first.fence,
            clock.wall() + 60,
        )
        await store.release(first)
        [status] = await store.snapshot()
        assert status.owner is None and status.fence is None
        second = await store.acquire()
        assert second.fence > first.fence and second.owner.startswith("pid:")
        await store.release(second)

    asyncio.run(main())


def test_renew_moves_the_expiry_while_the_lease_is_held() -> None:
    async def main() -> None:
        clock = FakeClock()
        store = token_pool(clock)
        lease = await store.acquire()
        assert lease.expires_at == WALL_START + clock.now + 900  # the default TTL
        clock.advance(300)
        assert await lease.renew()
        assert lease.expires_at == clock.wall() + 900
        [status] = await store.snapshot()
        assert status.lease_expires_at == lease.expires_at
        await store.release(lease)
        assert not await lease.renew()

    asyncio.run(main())


def test_a_stale_holder_can_neither_release_report_nor_renew() -> None:
    async def main() -> None:
        clock = FakeClock()
        store = token_pool(clock)
        lease = await store.acquire()
        # The same account under an older fence: what a holder that lost its lease would have.
        ghost = Lease(
            lease.account, owner="pid:0", fence=lease.fence - 1, acquired_at=0, expires_at=1, store=store
        )
        await store.report(ghost, ThrottledError("too frequent"))
        await store.release(ghost)
        assert not await ghost.renew()
        assert await state_of(store, "a0") is AccountState.BUSY
        await store.release(lease)
        assert await state_of(store, "a0") is AccountState.FREE

    asyncio.run(main())


def test_a_report_after_the_account_was_leased_again_is_ignored() -> None:
    async def main() -> None:
        clock = FakeClock()
        store = token_pool(clock)
        first = await store.acquire()
        await store.release(first)
        second = await store.acquire()
        await store.report(first, ThrottledError("too frequent"))  # late news from the first holder
        await store.release(second)
        [status] = await store.snapshot()
        assert status.state is AccountState.FREE and status.errors == 0

    asyncio.run(main())


def test_an_expired_lease_is_kept_and_its_late_release_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        clock = FakeClock()
        store = token_pool(clock, lease_ttl_s=60)
        lease = await store.acquire(owner="pid:1:slow")
        clock.advance(90)
        assert await state_of(store, "a0") is AccountState.BUSY  # one process: its owner is alive
        with caplog.at_level(logging.WARNING, logger="deepseek_free_api.accounts"):
            await store.release(lease)
        [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert "after it expired" in record.getMessage() and "pid:1:slow" in record.getMessage()
        assert await state_of(store, "a0") is AccountState.FREE

    asyncio.run(main())


def test_waiter_cancelled_as_the_account_is_handed_to_it_leaves_the_account_free() -> None:
    async def main() -> None:
        clock = FakeClock()
        store = token_pool(clock)
        holder = await store.acquire()
        waiter = asyncio.create_task(store.acquire())
        await settle(lambda: store.waiting == 1)
        await store.release(holder)  # hands a0 to the waiter before it runs again...
        waiter.cancel()  # ...and the waiter is cancelled in the same loop iteration
        await settle(waiter.done)
        assert waiter.cancelled()
        [status] = await store.snapshot()
        assert status.state is AccountState.FREE and status.leases == 1
        async with await store.acquire(timeout_s=0) as lease:
            assert lease.account.id == "a0"

    asyncio.run(main())


def test_the_async_context_manager_releases_through_the_store() -> None:
    async def main() -> None:
        clock = FakeClock()
        store = token_pool(clock)
        with pytest.raises(RuntimeError):
            async with await store.acquire() as lease:
                raise RuntimeError("boom")
        assert lease.released and await state_of(store, "a0") is AccountState.FREE

    asyncio.run(main())
