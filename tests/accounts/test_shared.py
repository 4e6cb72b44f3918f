"""Account state in the store: merged with the configuration at start, shared with other processes."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from deepseek_free_api.accounts import Account, AccountPool, AccountState
from deepseek_free_api.errors import AccountBannedError, InvalidTokenError, MutedError, ThrottledError
from deepseek_free_api.stores import AccountRecord
from deepseek_free_api.stores.memory import MemoryAccounts, MemoryLeases

from .support import FakeClock

PASSWORD = "pass-word-1234"


class Process:
    """One server process's pool on a store shared with others."""

    def __init__(self, clock: FakeClock, leases: MemoryLeases, records: MemoryAccounts) -> None:
        async def login(account: Account) -> str:
            self.logins += 1
            return f"logged-in-{self.logins}"

        self.logins = 0
        self.pool = AccountPool(
            max_waiters=5,
            wait_timeout_s=5,
            login=login,
            leases=leases,
            records=records,
            clock=clock,
            wall_clock=clock.wall,
        )

    async def state(self, account_id: str) -> AccountState:
        return next(s.state for s in await self.pool.snapshot() if s.id == account_id)


def configured() -> list[Account]:
    return [
        Account.from_token("tok-alpha", name="alpha"),
        Account.from_credentials(email="lima@example.com", password=PASSWORD, name="lima"),
    ]


def test_a_restart_keeps_the_login_token_and_the_marks() -> None:
    async def main() -> None:
        clock = FakeClock()
        leases = MemoryLeases(clock.wall)
        records = MemoryAccounts(leases, clock.wall)
        first = Process(clock, leases, records)
        await first.pool.load(configured())
        async with first.pool.lease(candidates=["lima"]) as lease:
            assert lease.account.token == "logged-in-1"
        async with first.pool.lease(candidates=["alpha"]) as lease:
            await first.pool.report(lease, MutedError("muted", mute_until=clock.wall() + 300))
        await first.pool.aclose()

        again = Process(clock, leases, records)  # the same store after a restart
        await again.pool.load(configured())
        assert await again.state("alpha") is AccountState.MUTED
        async with again.pool.lease(candidates=["lima"]) as lease:
            assert lease.account.token == "logged-in-1" and again.logins == 0

    asyncio.run(main())


def test_a_restart_keeps_each_accounts_condition_its_reason_and_the_throttle_streak() -> None:
    async def main() -> None:
        clock = FakeClock()
        leases = MemoryLeases(clock.wall)
        records = MemoryAccounts(leases, clock.wall)
        first = Process(clock, leases, records)
        await first.pool.load(
            [Account.from_token(f"tok-{name}", name=name) for name in ("alpha", "beta", "gamma")]
        )
        async with first.pool.lease(candidates=["alpha"]) as lease:
            await first.pool.report(lease, MutedError("user is muted", mute_until=clock.wall() + 300))
        async with first.pool.lease(candidates=["beta"]) as lease:
            await first.pool.report(lease, AccountBannedError("40012 account banned"))
        for _ in range(2):
            clock.advance(25)  # past the first rest (20 s)
            async with first.pool.lease(candidates=["gamma"]) as lease:
                await first.pool.report(lease, ThrottledError("Messages too frequent"))
        before = {s.id: s for s in await first.pool.snapshot()}
        await first.pool.aclose()

        again = Process(clock, leases, records)  # the same store after a restart
        await again.pool.load(
            [Account.from_token(f"tok-{name}", name=name) for name in ("alpha", "beta", "gamma")]
        )
        after = {s.id: s for s in await again.pool.snapshot()}
        for name, condition in (("beta", "banned"), ("gamma", "throttled")):
            assert after[name].condition == condition, name
            assert after[name].condition_reason == before[name].condition_reason
            assert after[name].condition_since == before[name].condition_since
            assert after[name].condition_until == before[name].condition_until
        assert after["beta"].state is AccountState.INVALID
        assert after["gamma"].state is AccountState.COOLDOWN
        # The streak goes on: a third throttle in a row rests 80 s (20, 40, 80), not 20 s again.
        clock.advance(45)  # past the second rest (40 s)
        async with again.pool.lease(candidates=["gamma"]) as lease:
            await again.pool.report(lease, ThrottledError("Messages too frequent"))
        third = next(s for s in await again.pool.snapshot() if s.id == "gamma")
        assert third.until is not None and third.until - clock.wall() == pytest.approx(80, abs=1)

    asyncio.run(main())


def test_a_new_token_in_the_configuration_replaces_the_stored_one_and_its_marks() -> None:
    async def main() -> None:
        clock = FakeClock()
        leases = MemoryLeases(clock.wall)
        records = MemoryAccounts(leases, clock.wall)
        first = Process(clock, leases, records)
        await first.pool.load([Account.from_token("tok-old", name="alpha")])
        async with first.pool.lease() as lease:
            await first.pool.report(lease, InvalidTokenError("40003"))
        assert await first.state("alpha") is AccountState.INVALID

        fixed = Process(clock, leases, records)
        await fixed.pool.load([Account.from_token("tok-new", name="alpha")])
        assert await fixed.state("alpha") is AccountState.FREE
        async with fixed.pool.lease() as lease:
            assert lease.account.token == "tok-new"

    asyncio.run(main())


def test_what_one_process_learns_reaches_the_other() -> None:
    async def main() -> None:
        clock = FakeClock()
        leases = MemoryLeases(clock.wall)
        records = MemoryAccounts(leases, clock.wall)
        one, other = Process(clock, leases, records), Process(clock, leases, records)
        await one.pool.load(configured())
        await other.pool.load(configured())
        async with one.pool.lease(candidates=["alpha"]) as lease:
            await one.pool.report(lease, MutedError("muted", mute_until=clock.wall() + 300))
        await other.pool.sync()
        assert await other.state("alpha") is AccountState.MUTED  # without ever being granted it
        async with other.pool.lease() as lease:
            assert lease.account.id == "lima" and lease.account.token == "logged-in-1"
        async with one.pool.lease(candidates=["lima"]) as lease:  # logged in by the other one
            assert lease.account.token == "logged-in-1" and one.logins == 0

    asyncio.run(main())


def test_added_accounts_come_and_go_and_a_reset_is_written_to_the_store() -> None:
    async def main() -> None:
        clock = FakeClock()
        leases = MemoryLeases(clock.wall)
        records = MemoryAccounts(leases, clock.wall)
        process = Process(clock, leases, records)
        await process.pool.load(configured())
        await records.put(AccountRecord("beta", token="tok-beta", origin="added"))
        await process.pool.sync()
        async with process.pool.lease(candidates=["beta"]) as lease:
            await process.pool.report(lease, InvalidTokenError("40003"))
        await process.pool.reset("beta")  # an operator's decision
        await process.pool.sync()
        assert await process.state("beta") is AccountState.FREE
        stored = await records.get("beta")
        assert stored is not None and stored.invalid_reason is None
        await records.put(replace(stored, mute_until=clock.wall() + 60))  # another writer's news
        await process.pool.sync()
        assert await process.state("beta") is AccountState.MUTED
        await records.remove("beta")
        await process.pool.sync()
        assert "beta" not in process.pool and "alpha" in process.pool  # configured ones stay

    asyncio.run(main())


def test_a_token_another_process_logged_in_for_is_not_overwritten_by_an_older_one() -> None:
    async def main() -> None:
        clock = FakeClock()
        leases = MemoryLeases(clock.wall)
        records = MemoryAccounts(leases, clock.wall)
        one, other = Process(clock, leases, records), Process(clock, leases, records)
        other.logins = 1  # so that its login's token differs: logged-in-2
        await one.pool.load(configured())
        await other.pool.load(configured())
        async with one.pool.lease(candidates=["lima"]):
            pass  # one logs in: logged-in-1
        async with other.pool.lease(candidates=["lima"]) as lease:  # reads it before using it
            assert lease.account.token == "logged-in-1"
            await other.pool.report(lease, InvalidTokenError("40003"))  # revoked upstream, say
        async with other.pool.lease(candidates=["lima"]) as lease:
            assert lease.account.token == "logged-in-2"
        async with one.pool.lease(candidates=["lima"]) as lease:  # one has not synced yet
            await one.pool.report(lease, None)
        stored = await records.get("lima")
        assert stored is not None and stored.token == "logged-in-2"  # the newer login's token
        assert lease.account.token == "logged-in-2"

    asyncio.run(main())
