"""The end of a turn in one step of the store (``AccountStore.amend``), the same on every backend.

The account's record is read, changed and written under the turn's lease, and the lease released
with it: a dead lease writes and releases nothing, a second release changes nothing, another
writer's fields survive, and another process sees the record and the free account.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import anyio

from deepseek_free_api.stores import AccountRecord

from .conftest import Backend
from .test_leases import LONG_TTL_S, SHORT_TTL_S


def _used(stored: AccountRecord | None) -> AccountRecord:
    base = stored or AccountRecord("a")
    return replace(base, successes=base.successes + 1, last_used_at=time.time())


def test_a_turns_end_writes_the_record_from_the_stored_one_and_releases_the_lease(backend: Backend) -> None:
    async def main() -> None:
        async with await backend.open() as stores:
            leases, accounts = stores.leases, stores.accounts
            await accounts.put(AccountRecord("a", token="tok-a", successes=4, canary='{"verdict": "ok"}'))
            lease = await leases.acquire(["a"], "p1", LONG_TTL_S)
            assert lease is not None
            seen = await leases.wait_released(-1, 0)
            written = await accounts.amend(lease, _used, release_pause_s=0.5)
            assert written is not None and written.successes == 5
            stored = await accounts.get("a")
            assert stored is not None and (stored.successes, stored.token) == (5, "tok-a")
            assert stored.canary == '{"verdict": "ok"}', "another writer's field is kept"
            [slot] = await leases.slots(["a"])
            assert slot.holder is None and slot.free_at > time.time(), "released, with its pause"
            assert await leases.wait_released(seen, 0) == seen + 1, "waiters hear of the release"
            # Released once: a repeat changes nothing, whichever way it comes.
            assert await accounts.amend(lease, _used, release_pause_s=0.0) is None
            assert not await leases.release(lease)
            again = await accounts.get("a")
            assert again is not None and again.successes == 5
            await anyio.sleep(0.8)
            assert await leases.acquire(["a"], "p2", LONG_TTL_S) is not None

    asyncio.run(main())


def test_without_a_release_the_record_is_written_and_the_lease_stays(backend: Backend) -> None:
    async def main() -> None:
        async with await backend.open() as stores:
            leases, accounts = stores.leases, stores.accounts
            lease = await leases.acquire(["a"], "p1", LONG_TTL_S)
            assert lease is not None
            assert await accounts.amend(lease, _used) is not None  # no record yet: built from None
            assert await accounts.amend(lease, _used) is not None
            stored = await accounts.get("a")
            assert stored is not None and stored.successes == 2
            assert (await leases.slots(["a"]))[0].holder is not None
            assert await leases.renew(lease, LONG_TTL_S) is not None
            # A change that names another account writes nothing and keeps the lease.
            assert await accounts.amend(lease, lambda _: AccountRecord("b"), release_pause_s=0.0) is None
            assert await accounts.get("b") is None
            assert (await leases.slots(["a"]))[0].holder is not None

    asyncio.run(main())


def test_a_dead_lease_neither_writes_nor_releases(backend: Backend) -> None:
    async def main() -> None:
        async with await backend.open() as stores:
            leases, accounts = stores.leases, stores.accounts
            old = await leases.acquire(["a"], "crashed", SHORT_TTL_S)
            assert old is not None
            await anyio.sleep(SHORT_TTL_S * 3)
            assert await accounts.amend(old, _used, release_pause_s=0.0) is None
            assert await accounts.get("a") is None
            new = await leases.acquire(["a"], "survivor", LONG_TTL_S)
            assert new is not None
            # The old holder's end of turn does not end the new holder's lease.
            assert await accounts.amend(old, _used, release_pause_s=0.0) is None
            assert (await leases.slots(["a"]))[0].holder == new
            assert await accounts.get("a") is None
            assert await leases.acquire(["a"], "third", LONG_TTL_S) is None

    asyncio.run(main())


def test_another_process_sees_the_record_and_the_free_account(shared_backend: Backend) -> None:
    async def main() -> None:
        async with await shared_backend.open() as one, await shared_backend.open() as other:
            lease = await one.leases.acquire(["a"], "p1", LONG_TTL_S)
            assert lease is not None
            assert await other.leases.acquire(["a"], "p2", LONG_TTL_S) is None
            assert await one.accounts.amend(lease, _used, release_pause_s=0.0) is not None
            stored = await other.accounts.get("a")
            assert stored is not None and stored.successes == 1 and stored.last_used_at is not None
            assert await other.leases.acquire(["a"], "p2", LONG_TTL_S) is not None
        async with await shared_backend.open() as reopened:  # and after a restart
            stored = await reopened.accounts.get("a")
            assert stored is not None and stored.successes == 1

    asyncio.run(main())
