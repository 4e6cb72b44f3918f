"""The end of a turn through the pool, on a real SQLite store shared by two pools (two processes').

A turn's report is written with its lease's release, in one step of the store: what it says (the
account's counters, marks, last use) reaches the other pool and outlives the process, and a lease
kept past its report (parked while a stop is retried) still has its report written while held.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from deepseek_free_api.accounts import Account, AccountPool, AccountState
from deepseek_free_api.errors import MutedError
from deepseek_free_api.stores import Stores, open_stores


def _pool(stores: Stores, **options: float) -> AccountPool:
    return AccountPool(
        max_waiters=5,
        wait_timeout_s=0.2,
        leases=stores.leases,
        records=stores.accounts,
        **options,  # type: ignore[arg-type]
    )


async def _state(pool: AccountPool) -> AccountState:
    return next(s.state for s in await pool.snapshot() if s.id == "alpha")


def test_a_turns_report_and_release_reach_the_other_process_and_a_restart(tmp_path: Path) -> None:
    async def main() -> None:
        async with await open_stores("", tmp_path) as mine, await open_stores("", tmp_path) as theirs:
            one, other = _pool(mine), _pool(theirs)
            async with one, other:
                await one.load([Account.from_token("tok-alpha", name="alpha")])
                await other.load([Account.from_token("tok-alpha", name="alpha")])
                lease = await one.acquire()
                await one.report(lease, None)
                await one.release(lease)
                await one.release(lease)  # idempotent
                stored = await theirs.accounts.get("alpha")
                assert stored is not None and stored.successes == 1
                assert stored.last_used_at is not None and abs(stored.last_used_at - time.time()) < 60
                await other.sync()  # (its counters are the ones it read last)
                async with other.lease() as theirs_now:  # free everywhere at once
                    await other.report(theirs_now, MutedError("muted", mute_until=time.time() + 300))
                await one.sync()
                assert await _state(one) is AccountState.MUTED
        async with await open_stores("", tmp_path) as reopened:
            stored = await reopened.accounts.get("alpha")
            assert stored is not None and (stored.successes, stored.errors) == (1, 1)
            assert stored.last_error == "MutedError" and stored.mute_until > time.time()

    asyncio.run(main())


def test_a_lease_kept_after_its_report_has_the_report_written_while_held(tmp_path: Path) -> None:
    async def main() -> None:
        async with await open_stores("", tmp_path) as stores, await open_stores("", tmp_path) as theirs:
            async with _pool(stores, lease_ttl_s=3.0) as pool:  # the keeper looks every second
                await pool.load([Account.from_token("tok-alpha", name="alpha")])
                lease = await pool.acquire()
                await pool.report(lease, MutedError("muted", mute_until=time.time() + 300))
                # Parked: no release. The keeper writes the report within a few of its ticks.
                deadline = time.monotonic() + 10
                while (stored := await theirs.accounts.get("alpha")) is None or stored.errors == 0:
                    assert time.monotonic() < deadline, "the report of a kept lease was never written"
                    await asyncio.sleep(0.1)
                assert stored.last_error == "MutedError"
                assert await theirs.leases.acquire(["alpha"], "other", 30.0) is None, "still held"
                await pool.release(lease)
                again = await theirs.accounts.get("alpha")
                assert again is not None and again.errors == 1, "written once"
                assert (await theirs.leases.slots(["alpha"]))[0].holder is None

    asyncio.run(main())
