"""Reusable sessions (``ReuseStore``): the same on every backend, bounded in count and time, shared."""

from __future__ import annotations

import asyncio
import time

from deepseek_free_api.stores import ReusableSession, ReuseLimits, StoreOptions

from .conftest import Backend


def test_a_kept_session_is_found_by_its_key_and_replaced_by_a_newer_one(backend: Backend) -> None:
    async def main() -> None:
        async with await backend.open() as stores:
            reuse = stores.reuse
            assert await reuse.find("k1") is None
            await reuse.keep(ReusableSession("k1", "sess@2.key.mark", tokens=40))
            found = await reuse.find("k1")
            assert found is not None and (found.reply_id, found.tokens) == ("sess@2.key.mark", 40)
            assert found.expires_at > time.time() + 86000  # the default TTL: a day
            await reuse.keep(ReusableSession("k1", "sess@4.key.mark", tokens=90))
            found = await reuse.find("k1")
            assert found is not None and (found.reply_id, found.tokens) == ("sess@4.key.mark", 90)
            assert await reuse.find("k2") is None

    asyncio.run(main())


def test_the_oldest_sessions_go_past_the_count_bound_and_all_of_them_after_the_ttl(backend: Backend) -> None:
    async def main() -> None:
        options = StoreOptions(reuse=ReuseLimits(max_count=3, ttl_s=1.0))
        async with await backend.open(options) as stores:
            for index in range(6):
                await stores.reuse.keep(ReusableSession(f"k{index}", f"s{index}@2", tokens=index))
            kept = [i for i in range(6) if await stores.reuse.find(f"k{i}") is not None]
            assert kept == [3, 4, 5]
            await asyncio.sleep(1.3)
            assert [i for i in range(6) if await stores.reuse.find(f"k{i}") is not None] == []

    asyncio.run(main())


def test_another_process_of_the_store_finds_what_one_kept(shared_backend: Backend) -> None:
    async def main() -> None:
        async with await shared_backend.open() as one, await shared_backend.open() as other:
            await one.reuse.keep(ReusableSession("shared", "sess@2.key.mark", tokens=7))
            found = await other.reuse.find("shared")
            assert found is not None and found.reply_id == "sess@2.key.mark"

    asyncio.run(main())
