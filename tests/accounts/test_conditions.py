"""The health machine's conditions: backoff for throttles, parking for bans, nothing for the network."""

from __future__ import annotations

import asyncio

import pytest

from deepseek_free_api.accounts import AccountPool, AccountState, AccountStatus
from deepseek_free_api.accounts.faults import THROTTLE_MAX_S
from deepseek_free_api.errors import (
    AccountBannedError,
    AccountDisabledError,
    MutedError,
    ServiceError,
    ThrottledError,
    UpstreamUnreachableError,
)

from .support import FakeClock, token_pool


async def report(pool: AccountPool, error: ServiceError | None) -> None:
    async with pool.lease(candidates=["a0"]) as lease:
        await pool.report(lease, error)


async def status(pool: AccountPool) -> AccountStatus:
    [one] = await pool.snapshot()
    return one


def test_throttles_in_a_row_double_the_rest_up_to_a_cap_and_never_disable() -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = token_pool(clock)
        rests = []
        for _ in range(7):
            await report(pool, ThrottledError("too frequent"))
            current = await status(pool)
            assert current.state is AccountState.COOLDOWN and current.condition == "throttled"
            assert current.until is not None
            rests.append(round(current.until - clock.wall()))
            clock.advance(current.until - clock.wall())
        assert rests == [20, 40, 80, 160, 320, THROTTLE_MAX_S, THROTTLE_MAX_S]
        await report(pool, None)
        healthy = await status(pool)
        assert healthy.condition == "healthy" and healthy.condition_reason == "a generation worked"
        await report(pool, ThrottledError("too frequent"))
        assert (await status(pool)).until == pytest.approx(clock.wall() + 20)  # the streak starts again

    asyncio.run(main())


@pytest.mark.parametrize(("error", "condition"), [(AccountBannedError("40012"), "banned"),
                                                  (AccountDisabledError("90008"), "disabled")])  # fmt: skip
def test_bans_park_until_the_recheck_or_the_operator(error: ServiceError, condition: str) -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = token_pool(clock)
        await report(pool, error)
        parked = await status(pool)
        assert parked.state is AccountState.INVALID and parked.condition == condition
        assert parked.condition_until == pytest.approx(clock.wall() + 600)
        await pool.reset("a0")
        again = await status(pool)
        assert again.state is AccountState.FREE and again.condition == "healthy"
        assert again.condition_reason == "re-enabled by the operator"

    asyncio.run(main())


def test_unreachable_is_noted_but_parks_nothing() -> None:
    async def main() -> None:
        pool = token_pool(FakeClock())
        await report(pool, UpstreamUnreachableError("could not reach DeepSeek"))
        noted = await status(pool)
        assert noted.state is AccountState.FREE and noted.condition == "unreachable"

    asyncio.run(main())


def test_a_new_token_ends_a_ban_but_not_a_mute() -> None:
    async def main() -> None:
        clock = FakeClock()
        pool = token_pool(clock)
        await report(pool, AccountBannedError("40012"))
        pool.update_token("a0", "fresh-token")
        assert (await status(pool)).condition == "healthy"
        await report(pool, MutedError("muted", mute_until=clock.wall() + 300))
        pool.update_token("a0", "another-token")
        muted = await status(pool)
        assert muted.state is AccountState.MUTED and muted.condition == "muted"

    asyncio.run(main())
