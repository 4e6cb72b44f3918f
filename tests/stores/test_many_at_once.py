"""Many store calls at once, as 200 concurrent streams make them: none is refused for lack of connections."""

from __future__ import annotations

import asyncio

from .conftest import Backend

CALLS = 200


def test_two_hundred_leases_taken_and_released_at_once(backend: Backend) -> None:
    # redis-py's default pool raised MaxConnectionsError beyond 100 commands in flight.
    async def main() -> None:
        async with await backend.open() as stores:
            leases = await asyncio.gather(
                *(stores.leases.acquire([f"acct-{i}"], "many", 30) for i in range(CALLS))
            )
            assert all(lease is not None for lease in leases)
            released = await asyncio.gather(*(stores.leases.release(lease) for lease in leases if lease))
            assert released == [True] * CALLS

    asyncio.run(main())
