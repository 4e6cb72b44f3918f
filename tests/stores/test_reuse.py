"""Reusable sessions (``ReuseStore``): the same on every backend, bounded in count and time, shared."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from subprocess import PIPE

import orjson

from deepseek_free_api.stores import ReusableSession, ReuseLimits, StoreOptions, open_stores
from deepseek_free_api.stores.bundle import DEFAULT_FILE
from tests.support.processes import REPO

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


def test_a_kept_session_is_taken_once_until_it_is_kept_again(backend: Backend) -> None:
    async def main() -> None:
        async with await backend.open() as stores:
            reuse = stores.reuse
            assert await reuse.take("k1") is None
            await reuse.keep(ReusableSession("k1", "sess@2.key.mark", tokens=40))
            first = await reuse.take("k1")
            assert first is not None and not first.taken
            assert (first.reply_id, first.tokens) == ("sess@2.key.mark", 40)
            again, seen = await reuse.take("k1"), await reuse.find("k1")
            assert again is not None and again.taken  # another request goes on from it: replay
            assert seen is not None and seen.taken
            await reuse.keep(first)  # given back: nothing was sent upstream
            back = await reuse.take("k1")
            assert back is not None and not back.taken and back.reply_id == "sess@2.key.mark"
            await reuse.keep(ReusableSession("k1", "sess@4.key.mark", tokens=90))  # a newer answer
            newer = await reuse.take("k1")
            assert newer is not None and not newer.taken and newer.reply_id == "sess@4.key.mark"

    asyncio.run(main())


def test_a_taken_session_still_expires_and_counts_in_the_bound(backend: Backend) -> None:
    async def main() -> None:
        options = StoreOptions(reuse=ReuseLimits(max_count=2, ttl_s=1.0))
        async with await backend.open(options) as stores:
            await stores.reuse.keep(ReusableSession("old", "s0@2"))
            await stores.reuse.keep(ReusableSession("new", "s1@2"))
            assert await stores.reuse.take("old") is not None
            await stores.reuse.keep(ReusableSession("newest", "s2@2"))  # the oldest goes, taken or not
            assert await stores.reuse.find("old") is None
            assert await stores.reuse.take("new") is not None
            await asyncio.sleep(1.3)
            assert await stores.reuse.take("new") is None and await stores.reuse.take("newest") is None

    asyncio.run(main())


def test_of_many_takers_at_once_exactly_one_gets_the_session(backend: Backend) -> None:
    async def main() -> None:
        async with await backend.open() as one, await backend.open() as other:
            # Two connections to one SQLite file or Redis (two stores in memory: one taker each).
            shared = backend.name != "memory"
            for round_ in range(20):
                key = f"k{round_}"
                await one.reuse.keep(ReusableSession(key, f"s{round_}@2"))
                if shared:
                    takers = [one.reuse.take(key) if i % 2 else other.reuse.take(key) for i in range(8)]
                else:
                    takers = [one.reuse.take(key) for _ in range(8)]
                results = await asyncio.gather(*takers)
                assert all(r is not None for r in results)
                assert sum(1 for r in results if r is not None and not r.taken) == 1, results

    asyncio.run(main())


def test_of_processes_taking_the_same_sessions_each_session_goes_to_one(
    shared_backend: Backend, tmp_path: Path
) -> None:
    count, processes = 60, 3
    markers = tmp_path / "markers"
    markers.mkdir()

    async def keep_all() -> None:
        async with await shared_backend.open() as stores:
            for index in range(count):
                await stores.reuse.keep(ReusableSession(f"k{index}", f"s{index}@2"))

    asyncio.run(keep_all())
    argv = [sys.executable, "-m", "tests.stores.taker", shared_backend.url, str(shared_backend.data_dir)]
    takers = [
        subprocess.Popen([*argv, str(markers), str(count)], cwd=REPO, stdout=PIPE, stderr=PIPE, text=True)
        for _ in range(processes)
    ]
    time.sleep(1.0)  # all of them started and opened the store (importing takes a moment), then go
    (markers / "go").touch()
    won: list[int] = []
    for taker in takers:
        out, err = taker.communicate(timeout=120)
        assert taker.returncode == 0, err
        won += orjson.loads(out.strip().splitlines()[-1])
    assert sorted(won) == list(range(count))  # each session taken untaken by exactly one process


def test_the_sqlite_file_keeps_no_more_than_the_bound_and_a_prune_batch(tmp_path: Path) -> None:
    """Dead rows go in batches (every 64th keep), not one by one; the file still stays bounded."""

    async def main() -> None:
        options = StoreOptions(reuse=ReuseLimits(max_count=3, ttl_s=0.5))
        async with await open_stores("", tmp_path, options=options) as stores:
            for index in range(300):
                await stores.reuse.keep(ReusableSession(f"k{index}", f"s{index}@2"))
            assert [i for i in range(300) if await stores.reuse.find(f"k{i}")] == [297, 298, 299]
            with sqlite3.connect(tmp_path / DEFAULT_FILE) as db:
                (rows,) = db.execute("SELECT COUNT(*) FROM reuse").fetchone()
            assert rows <= 3 + 64, rows
            await asyncio.sleep(0.8)
            for index in range(64):  # past the TTL: the next batch takes them all
                await stores.reuse.keep(ReusableSession(f"late{index}", "s@2"))
            with sqlite3.connect(tmp_path / DEFAULT_FILE) as db:
                (rows,) = db.execute("SELECT COUNT(*) FROM reuse").fetchone()
            assert rows <= 64, rows

    asyncio.run(main())
