"""Service keys, usage counters and rate windows, the same on every backend."""

from __future__ import annotations

import asyncio
import time

import anyio
import pytest

from deepseek_free_api.stores import KeyExistsError, KeyLimits, Stores
from deepseek_free_api.stores.protocols import utc_day

from .conftest import Backend


async def stored_bytes(stores: Stores, backend: Backend) -> bytes:
    """Everything the backend keeps, as bytes (to look for a secret in it)."""
    if backend.name == "sqlite":
        assert stores.location.path is not None
        files = [stores.location.path, stores.location.path.with_name(stores.location.path.name + "-wal")]
        return b"".join(p.read_bytes() for p in files if p.exists())
    if backend.name == "redis":
        from redis.asyncio import Redis

        client = Redis.from_url(stores.location.url)
        try:
            chunks: list[object] = []
            async for name in client.scan_iter(match=stores.location.prefix + "*"):
                kind = await client.type(name)
                if kind == b"string":
                    chunks.append(await client.get(name))
                elif kind == b"hash":
                    chunks.append(await client.hgetall(name))
                elif kind == b"set":
                    chunks.append(await client.smembers(name))
                elif kind == b"zset":
                    chunks.append(await client.zrange(name, 0, -1))
            return repr(chunks).encode()
        finally:
            await client.aclose()
    return repr(await stores.keys.all()).encode()


def test_a_created_key_is_returned_once_and_only_its_digest_is_kept(backend: Backend) -> None:
    async def main() -> None:
        async with await backend.open() as stores:
            limits = KeyLimits(rpm=2, concurrency=1, tokens_per_day=1000, models=("deepseek-v4-*",))
            record, key = await stores.keys.create("ci-bot", limits)
            assert key.startswith("sk-") and len(key) >= 40
            assert (record.name, record.limits, record.prefix) == ("ci-bot", limits, key[3:7])
            assert record.digest != key and key not in repr(record)
            found = await stores.keys.lookup(key)
            assert found == record and found.state(time.time()) == "active"
            assert await stores.keys.lookup(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
            assert await stores.keys.lookup("") is None
            assert key.encode() not in await stored_bytes(stores, backend)
            assert record.digest.encode() in await stored_bytes(stores, backend)

    asyncio.run(main())


def test_revoke_takes_effect_at_once_and_frees_the_name(backend: Backend) -> None:
    async def main() -> None:
        async with await backend.open() as stores:
            keys = stores.keys
            _, key = await keys.create("alice", KeyLimits())
            with pytest.raises(KeyExistsError):
                await keys.create("alice", KeyLimits(rpm=1))
            assert await keys.revoke("alice") and not await keys.revoke("alice")
            assert not await keys.revoke("nobody")
            revoked = await keys.lookup(key)
            assert revoked is not None and revoked.state(time.time()) == "revoked"
            record, new_key = await keys.create("alice", KeyLimits(rpm=5))
            assert await keys.lookup(key) is None, "the revoked key's record was replaced"
            assert await keys.lookup(new_key) == record and record.limits.rpm == 5
            await keys.create("bob", KeyLimits(expires_at=time.time() - 1))
            names = [(k.name, k.state(time.time())) for k in await keys.all()]
            assert names == [("alice", "active"), ("bob", "expired")]
            assert await keys.get("bob") is not None and await keys.get("carol") is None

    asyncio.run(main())


def test_usage_counts_per_principal_account_and_day(backend: Backend) -> None:
    async def main() -> None:
        async with await backend.open() as stores:
            usage = stores.usage
            before = time.time()
            await usage.record("ci-bot", "acct-1", input_tokens=10, output_tokens=5)
            await usage.record("ci-bot", "acct-2", input_tokens=1, output_tokens=2)
            await usage.record("ci-bot", "acct-1", input_tokens=100, output_tokens=50)
            await usage.record("other", "acct-1", requests=1)
            totals = await usage.totals("ci-bot")
            assert (totals.requests, totals.input_tokens, totals.output_tokens, totals.tokens) == (
                3,
                111,
                57,
                168,
            )
            assert totals.last_used_at is not None and totals.last_used_at >= before - 1
            today = utc_day(time.time())
            rows = [
                (r.principal, r.account_id, r.requests, r.input_tokens) for r in await usage.rows(day=today)
            ]
            assert rows == [
                ("ci-bot", "acct-1", 2, 110),
                ("ci-bot", "acct-2", 1, 1),
                ("other", "acct-1", 1, 0),
            ]
            assert [r.account_id for r in await usage.rows(principal="other")] == ["acct-1"]
            assert (await usage.totals("ci-bot", "2000-01-01")).requests == 0
            assert (await usage.totals("nobody")).last_used_at is None

    asyncio.run(main())


def test_concurrent_increments_are_not_lost(backend: Backend) -> None:
    async def main() -> None:
        async with await backend.open() as stores:
            async with anyio.create_task_group() as group:
                for _ in range(50):
                    group.start_soon(lambda: stores.usage.record("p", "a", input_tokens=2, output_tokens=1))
            totals = await stores.usage.totals("p")
            assert (totals.requests, totals.input_tokens, totals.output_tokens) == (50, 100, 50)

    asyncio.run(main())


def test_the_rpm_window_refuses_the_third_request_with_an_accurate_retry_after(backend: Backend) -> None:
    async def main() -> None:
        async with await backend.open() as stores:
            rates = stores.rates
            assert await rates.hit("ci-bot", 2) is None
            await anyio.sleep(1.0)
            assert await rates.hit("ci-bot", 2) is None
            retry_after = await rates.hit("ci-bot", 2)
            # The first hit leaves the minute window 60 s after it was counted: about 59 s from now.
            assert retry_after is not None and 50 < retry_after <= 59.1, retry_after
            assert await rates.hit("someone-else", 2) is None, "windows are per Principal"
            # A refused request is not counted: a short window frees up after its own length.
            assert await rates.hit("quick", 1, window_s=0.3) is None
            short = await rates.hit("quick", 1, window_s=0.3)
            assert short is not None and 0 < short <= 0.3
            await anyio.sleep(0.6)
            assert await rates.hit("quick", 1, window_s=0.3) is None

    asyncio.run(main())


def test_concurrency_places_are_taken_renewed_given_back_and_expire(backend: Backend) -> None:
    async def main() -> None:
        async with await backend.open() as stores:
            rates = stores.rates
            assert await rates.enter("ci-bot", 1, "req-1", 120)
            assert not await rates.enter("ci-bot", 1, "req-2", 120)
            assert await rates.enter("ci-bot", 1, "req-1", 120), "the holder renews its place"
            assert await rates.enter("other", 1, "req-3", 120)
            await rates.leave("ci-bot", "req-1")
            await rates.leave("ci-bot", "req-1")
            assert await rates.enter("ci-bot", 1, "req-2", 0.3)
            await anyio.sleep(0.9)  # req-2's holder died without leaving: its place expires
            assert await rates.enter("ci-bot", 1, "req-4", 120)

    asyncio.run(main())
