"""Stored responses (bounds, owners, TTL) and conversation moves, the same on every backend."""

from __future__ import annotations

import asyncio
import time

import anyio
import orjson

from deepseek_free_api.stores import ResponseLimits, StoredResponse, StoreOptions

from .conftest import Backend


def response(response_id: str, owner: str = "alice", size: int = 100, **extra: float) -> StoredResponse:
    body = orjson.dumps({"id": response_id, "output_text": "x" * size})
    conversation = orjson.dumps([{"role": "user", "text": "hi", "files": ["file-123"]}])
    return StoredResponse(response_id, owner, body, conversation, **extra)


def test_a_stored_response_comes_back_only_to_its_owner(backend: Backend) -> None:
    async def main() -> None:
        async with await backend.open() as stores:
            responses = stores.responses
            original = response("resp_1", created_at=time.time())
            await responses.put(original)
            got = await responses.get("resp_1", "alice")
            assert got is not None and (got.body, got.conversation) == (original.body, original.conversation)
            assert got.expires_at is not None and got.expires_at > time.time() + 29 * 86400  # default TTL
            assert orjson.loads(got.body)["id"] == "resp_1"
            assert await responses.get("resp_1", "mallory") is None
            assert not await responses.delete("resp_1", "mallory")
            assert await responses.get("resp_2", "alice") is None
            assert await responses.delete("resp_1", "alice")
            assert await responses.get("resp_1", "alice") is None

    asyncio.run(main())


def test_the_store_holds_no_more_than_its_byte_bound_and_keeps_the_newest(backend: Backend) -> None:
    async def main() -> None:
        limits = ResponseLimits(max_bytes=1_000_000)
        async with await backend.open(StoreOptions(responses=limits)) as stores:
            for index in range(20):
                await stores.responses.put(response(f"resp_{index}", size=300_000))
            kept = [i for i in range(20) if await stores.responses.get(f"resp_{i}", "alice") is not None]
            assert kept == [17, 18, 19], kept  # 3 x ~300 kB fit under 1 MB
            # One response larger than the whole bound is still kept, alone: its caller has its id.
            await stores.responses.put(response("huge", size=2_000_000))
            assert await stores.responses.get("huge", "alice") is not None
            assert await stores.responses.get("resp_19", "alice") is None

    asyncio.run(main())


def test_count_and_per_owner_bounds_evict_the_least_recently_used(backend: Backend) -> None:
    async def main() -> None:
        limits = ResponseLimits(max_count=4, max_per_owner=2)
        async with await backend.open(StoreOptions(responses=limits)) as stores:
            responses = stores.responses
            for index in range(3):
                await responses.put(response(f"a{index}", owner="alice"))
            alice = [i for i in range(3) if await responses.get(f"a{i}", "alice") is not None]
            assert alice == [1, 2], "an owner keeps at most max_per_owner"
            await responses.put(response("b0", owner="bob"))
            await responses.get("a1", "alice")  # in use: a1 is now more recent than a2 and b0
            await responses.put(response("b1", owner="bob"))
            await responses.put(response("c0", owner="carol"))
            present = {
                rid: await responses.get(rid, owner) is not None
                for rid, owner in [
                    ("a1", "alice"),
                    ("a2", "alice"),
                    ("b0", "bob"),
                    ("b1", "bob"),
                    ("c0", "carol"),
                ]
            }
            assert present == {"a1": True, "a2": False, "b0": True, "b1": True, "c0": True}

    asyncio.run(main())


def test_a_response_is_gone_after_its_ttl(backend: Backend) -> None:
    async def main() -> None:
        async with await backend.open(StoreOptions(responses=ResponseLimits(ttl_s=0.3))) as stores:
            await stores.responses.put(response("resp_short"))
            await stores.responses.put(response("resp_long", expires_at=time.time() + 120))
            assert await stores.responses.get("resp_short", "alice") is not None
            await anyio.sleep(0.9)
            assert await stores.responses.get("resp_short", "alice") is None
            assert await stores.responses.get("resp_long", "alice") is not None

    asyncio.run(main())


def test_moves_are_followed_to_the_last_message_and_bounded(backend: Backend) -> None:
    async def main() -> None:
        async with await backend.open(StoreOptions(max_moves=3)) as stores:
            moves = stores.conversations
            assert await moves.follow("s-1", 2) == 2
            await moves.moved("s-1", 2, 4)
            await moves.moved("s-1", 4, 6)
            assert await moves.follow("s-1", 2) == 6
            assert await moves.follow("s-2", 2) == 2, "moves are per session"
            await moves.moved("s-1", 6, 2)  # a loop (never sent by DeepSeek) still ends
            assert await moves.follow("s-1", 2) in (2, 4, 6)
            await moves.moved("s-3", 1, 3)
            await moves.moved("s-3", 3, 5)
            assert await moves.follow("s-3", 1) == 5
            # Only the newest 3 moves are kept: 6 -> 2, 1 -> 3, 3 -> 5.
            assert [await moves.follow("s-1", i) for i in (2, 4, 6)] == [2, 4, 2]

    asyncio.run(main())
