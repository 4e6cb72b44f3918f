"""Leases and account records, the same on every backend: exclusivity, fencing, orphans, wake-ups."""

from __future__ import annotations

import asyncio
import time

import anyio

from deepseek_free_api.stores import AccountRecord, Orphan

from .conftest import Backend

# Long enough that a loaded machine never sees these leases expire during a test.
LONG_TTL_S = 120.0
# Short TTLs for expiry tests; the tests sleep several times longer, so load only adds margin.
SHORT_TTL_S = 0.3


def test_acquire_takes_the_first_free_candidate_in_order(backend: Backend) -> None:
    async def main() -> None:
        async with await backend.open() as stores:
            leases = stores.leases
            first = await leases.acquire(["b", "a"], "p1", LONG_TTL_S)
            second = await leases.acquire(["b", "a"], "p2", LONG_TTL_S)
            assert first is not None and second is not None
            assert (first.account_id, first.owner, second.account_id) == ("b", "p1", "a")
            assert first.expires_at - first.acquired_at == LONG_TTL_S
            assert abs(first.acquired_at - time.time()) < 5  # wall-clock epoch seconds
            assert await leases.acquire(["a", "b"], "p3", LONG_TTL_S) is None
            assert await leases.acquire([], "p3", LONG_TTL_S) is None
            assert await leases.release(first)
            third = await leases.acquire(["a", "b"], "p3", LONG_TTL_S)
            assert third is not None and third.account_id == "b" and third.fence > first.fence
            assert not await leases.release(first), "a release is not repeated"
            slots = {s.account_id: s for s in await leases.slots(["a", "b", "never"])}
            assert slots["a"].holder == second and slots["b"].holder is not None
            assert slots["b"].holder.owner == "p3" and slots["never"].holder is None

    asyncio.run(main())


def test_renew_all_renews_the_live_leases_and_refuses_the_dead_ones_in_one_call(backend: Backend) -> None:
    async def main() -> None:
        async with await backend.open() as stores:
            leases = stores.leases
            assert await leases.renew_all([], LONG_TTL_S) == []
            live = await leases.acquire(["a"], "p1", LONG_TTL_S)
            dying = await leases.acquire(["b"], "p1", SHORT_TTL_S)
            ended = await leases.acquire(["c"], "p1", LONG_TTL_S)
            assert live is not None and dying is not None and ended is not None
            assert await leases.release(ended)
            await anyio.sleep(SHORT_TTL_S * 3)
            renewed = await leases.renew_all([live, dying, ended], LONG_TTL_S * 2)
            assert [r is not None for r in renewed] == [True, False, False]
            first = renewed[0]
            assert first is not None and first.fence == live.fence and first.owner == "p1"
            assert first.expires_at > live.expires_at + LONG_TTL_S / 2
            [slot] = await leases.slots(["a"])
            assert slot.holder is not None and slot.holder.expires_at == first.expires_at

    asyncio.run(main())


def test_an_expired_lease_can_no_longer_renew_release_note_or_report(backend: Backend) -> None:
    async def main() -> None:
        async with await backend.open() as stores:
            leases = stores.leases
            old = await leases.acquire(["a"], "crashed", SHORT_TTL_S)
            assert old is not None
            renewed = await leases.renew(old, SHORT_TTL_S)
            assert renewed is not None and renewed.expires_at >= old.expires_at
            await anyio.sleep(SHORT_TTL_S * 3)
            # Expired, and nobody took the account yet: still dead for its old owner.
            assert await leases.renew(old, LONG_TTL_S) is None
            assert await leases.note_generation(old, "s-1", 2) is None
            assert not await stores.accounts.report(old, AccountRecord("a", mute_until=1e12))
            assert not await leases.release(old)
            assert (await leases.slots(["a"]))[0].holder is None
            new = await leases.acquire(["a"], "survivor", LONG_TTL_S)
            assert new is not None and new.fence > old.fence
            # ... and after a newer lease took it, the old one changes nothing either.
            assert not await leases.release(old)
            assert await leases.renew(old, LONG_TTL_S) is None
            assert not await stores.accounts.report(old, AccountRecord("a", mute_until=1e12))
            assert await stores.accounts.get("a") is None
            assert (await leases.slots(["a"]))[0].holder == new
            assert await stores.accounts.report(new, AccountRecord("a", errors=1))
            record = await stores.accounts.get("a")
            assert record is not None and record.errors == 1
            assert await leases.release(new)
            assert not await stores.accounts.report(new, AccountRecord("a", errors=2)), "released is dead"

    asyncio.run(main())


def test_the_next_holder_learns_the_generation_a_dead_lease_left_running(backend: Backend) -> None:
    async def main() -> None:
        async with await backend.open() as stores:
            leases = stores.leases
            lease = await leases.acquire(["a"], "crashed", SHORT_TTL_S)
            assert lease is not None
            noted = await leases.note_generation(lease, "session-1", 7)
            assert noted is not None and (noted.session_id, noted.message_id) == ("session-1", 7)
            await anyio.sleep(SHORT_TTL_S * 3)
            taken = await leases.acquire(["a"], "survivor", LONG_TTL_S)
            assert taken is not None
            assert taken.orphan == Orphan("session-1", 7, "crashed", lease.fence)
            # A generation that ended normally (released) leaves nothing behind.
            assert await leases.note_generation(taken, "session-2", None) is not None
            assert await leases.release(taken)
            again = await leases.acquire(["a"], "next", LONG_TTL_S)
            assert again is not None and again.orphan is None and again.session_id is None

    asyncio.run(main())


def test_a_release_pause_keeps_the_account_out_until_it_ends(backend: Backend) -> None:
    async def main() -> None:
        async with await backend.open() as stores:
            leases = stores.leases
            lease = await leases.acquire(["a"], "p1", LONG_TTL_S)
            assert lease is not None
            assert await leases.release(lease, pause_s=0.5)
            [slot] = await leases.slots(["a"])
            assert slot.holder is None and slot.free_at > time.time()
            assert await leases.acquire(["a"], "p2", LONG_TTL_S) is None
            await anyio.sleep(1.0)
            assert await leases.acquire(["a"], "p2", LONG_TTL_S) is not None

    asyncio.run(main())


def test_a_waiter_is_woken_by_a_release_and_otherwise_waits_its_timeout(backend: Backend) -> None:
    async def main() -> None:
        async with await backend.open() as stores:
            leases = stores.leases
            seen = await leases.wait_released(-1, 0)  # the current count, at once
            started = time.monotonic()
            assert await leases.wait_released(seen, 0.3) == seen
            assert time.monotonic() - started >= 0.25
            lease = await leases.acquire(["a"], "p1", LONG_TTL_S)
            assert lease is not None
            woke_after: list[float] = []

            async def waiter_since(since: int) -> None:
                begun = time.monotonic()
                count = await leases.wait_released(since, 30)
                woke_after.append(time.monotonic() - begun)
                assert count == since + 1

            async with anyio.create_task_group() as group:
                group.start_soon(waiter_since, seen)
                await anyio.sleep(0.2)
                assert await leases.release(lease)
            assert woke_after and woke_after[0] < 5, woke_after  # not the 30 s timeout
            # A waiter cancelled mid-wait leaves the store able to wake the next one.
            with anyio.move_on_after(0.2):
                await leases.wait_released(seen + 1, 30)
            lease = await leases.acquire(["a"], "p2", LONG_TTL_S)
            assert lease is not None
            woke_after.clear()
            async with anyio.create_task_group() as group:
                group.start_soon(waiter_since, seen + 1)
                await anyio.sleep(0.2)
                assert await leases.release(lease)
            assert woke_after and woke_after[0] < 5, woke_after

    asyncio.run(main())


def test_account_records_keep_token_and_health_and_never_show_the_token(backend: Backend) -> None:
    async def main() -> None:
        async with await backend.open() as stores:
            accounts = stores.accounts
            record = AccountRecord(
                "acct-1",
                token="secret-token-value-123456",
                invalid_reason="token rejected by DeepSeek",
                invalid_until=None,
                mute_until=2e9,
                errors=3,
                last_error="MutedError",
            )
            await accounts.put(record)
            await accounts.put(AccountRecord("acct-0"))
            got = await accounts.get("acct-1")
            assert got is not None and got.token == "secret-token-value-123456"
            assert (got.invalid_reason, got.invalid_until, got.mute_until, got.errors) == (
                "token rejected by DeepSeek",
                None,
                2e9,
                3,
            )
            assert got.updated_at > 0 and "secret-token" not in repr(got)
            assert [r.id for r in await accounts.all()] == ["acct-0", "acct-1"]
            assert await accounts.remove("acct-0") and not await accounts.remove("acct-0")
            assert [r.id for r in await accounts.all()] == ["acct-1"]

    asyncio.run(main())
