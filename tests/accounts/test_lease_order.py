"""The pool offers free accounts in the same order however many it has, and at the same cost.

The order of free server accounts is kept up to date as accounts change (``accounts.ready``)
rather than sorted on every pass; it must stay exactly ``matching.rank``'s order through any
sequence of leases, releases, pauses, marks, accounts added and removed.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepseek_free_api.accounts import Account, AccountPool
from deepseek_free_api.accounts.account import AccountSource
from deepseek_free_api.accounts.health import LeaseRecord
from deepseek_free_api.accounts.matching import Rankings, Waiter, candidates_for, on_probation, rank
from deepseek_free_api.accounts.registry import AccountRegistry

from .support import FakeClock

IDS = [f"a{i}" for i in range(8)]
SMALL = st.sampled_from([0.0, 1.0, 5.0])  # few values: ties in the order are common

OPERATIONS = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(IDS), st.sampled_from(["server", "server", "caller"])),
    st.tuples(st.just("remove"), st.sampled_from(IDS)),
    st.tuples(st.just("lease"), st.sampled_from(IDS), st.integers(1, 6)),
    st.tuples(st.just("release"), st.sampled_from(IDS), SMALL),
    st.tuples(st.just("abandon"), st.sampled_from(IDS)),
    st.tuples(st.just("elsewhere"), st.sampled_from(IDS), st.booleans()),
    st.tuples(st.sampled_from(["mute", "cool", "quota", "pace"]), st.sampled_from(IDS), SMALL),
    st.tuples(st.just("invalidate"), st.sampled_from(IDS), st.sampled_from([0.0, 2.0, math.inf])),
    st.tuples(st.sampled_from(["succeed", "reset", "new token"]), st.sampled_from(IDS)),
    st.tuples(st.sampled_from(["idle since", "last lease"]), st.sampled_from(IDS), SMALL),
    st.tuples(st.just("advance"), SMALL),
)


def apply(registry: AccountRegistry, clock: FakeClock, operation: tuple[Any, ...]) -> None:
    """One change to the pool's accounts, as the pool or another process's news would make it."""
    kind, *args = operation
    now = clock()
    if kind == "advance":
        clock.advance(float(args[0]))
        return
    account_id = str(args[0])
    if kind == "add":
        if account_id not in registry:
            source: AccountSource = "caller" if args[1] == "caller" else "server"
            registry.add(Account.from_token(f"token-{account_id}", name=account_id, source=source))
        return
    if kind == "remove":
        registry.remove(account_id)
        return
    slot = registry._slots.get(account_id)
    if slot is None:
        return
    health, value = slot.health, args[1] if len(args) > 1 else 0
    if kind == "lease" and health.holder is None:
        health.begin(now, LeaseRecord("test", int(value), 0.0, 0.0))
    elif kind == "release" and health.holder is not None:
        health.end(now, float(value))
    elif kind == "abandon" and health.holder is not None:
        health.abandon()
    elif kind == "elsewhere":
        health.elsewhere = bool(value)
    elif kind in ("mute", "cool", "quota", "pace"):
        seconds = float(value)
        if kind == "mute":
            health.mute(now, seconds)
        elif kind == "cool":
            health.cool_down(now, seconds)
        elif kind == "quota":
            health.quota_until = max(health.quota_until, now + seconds)
        else:
            health.ready_at = max(health.ready_at, now + seconds)
    elif kind == "invalidate":
        health.invalidate("banned", recheck_at=now + float(value))
    elif kind == "succeed":
        health.succeed(wall_now=0.0)
    elif kind == "reset":
        health.reset(wall_now=0.0)
    elif kind == "new token":
        registry.update_token(account_id, f"token-{account_id}-{now}")
    elif kind == "idle since":
        health.idle_since = float(value)
    elif kind == "last lease":
        health.last_lease_seq = int(value)


def waiters(loop: asyncio.AbstractEventLoop) -> list[Waiter]:
    """Waiters that may take any server account: plain, with a preference, with exclusions."""
    kinds: list[tuple[str | None, frozenset[str]]] = [
        (None, frozenset()),
        ("a3", frozenset()),
        (None, frozenset({"a1", "a4"})),
        ("a2", frozenset({"a2"})),
    ]
    return [Waiter(None, prefer, False, out, 0.0, "test", loop.create_future()) for prefer, out in kinds]


@settings(max_examples=500, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(IDS), min_size=1, max_size=8, unique=True), st.lists(OPERATIONS, max_size=60))
def test_the_kept_order_is_always_the_order_a_full_ranking_gives(
    initial: list[str], operations: list[tuple[Any, ...]]
) -> None:
    """After every change, a pass offers the free server accounts in exactly ``rank``'s order
    (idle longest first, the pool's own order among equals), names the same candidates, sees the
    same account due for a re-check, and wakes the queue when the first pause ends."""
    clock = FakeClock()
    registry = AccountRegistry(can_log_in=False, max_caller_accounts=100, device_salt="")
    for account_id in initial:
        registry.add(Account.from_token(f"token-{account_id}", name=account_id))
    loop = asyncio.new_event_loop()
    try:
        kinds = waiters(loop)
        for step, operation in enumerate([("advance", 0.0), *operations]):
            apply(registry, clock, operation)
            rankings = Rankings(registry._slots, clock(), registry._ready)
            for waiter in kinds:
                candidates = candidates_for(waiter, registry._slots)
                expected = rank(waiter, candidates, clock())
                got = rankings.of(waiter)
                ids = [s.account.id for s in got.ranked.all()]
                assert ids == [s.account.id for s in expected], (step, waiter)
                assert got.probation == any(map(on_probation, expected)), (step, operation)
                assert got.candidates() == candidates
            ends = [
                until
                for s in registry._slots.values()
                if s.account.source == "server"
                and not s.health.busy
                and clock() < (until := s.health.blocked_until()) < math.inf
            ]
            assert registry._ready.next_end(clock()) == min(ends, default=None), step
    finally:
        loop.close()


def test_a_lease_costs_about_the_same_with_2000_accounts_as_with_100() -> None:
    """Taking a lease must not rank every account: with 2,000 accounts the event loop's time per
    acquire and release stays within 3x of the time with 100 (ranking all of them was about 10x)."""

    async def per_lease(count: int) -> float:
        clock = FakeClock()
        accounts = [Account.from_token(f"token-{i}", name=f"a{i}") for i in range(count)]
        pool = AccountPool(accounts, max_waiters=10, wait_timeout_s=30, clock=clock, wall_clock=clock.wall)
        async with pool:
            best = math.inf
            for _ in range(5):  # the fastest of five runs: the machine is shared
                start = time.process_time()
                for _ in range(200):
                    await pool.release(await pool.acquire())
                    clock.advance(0.001)
                best = min(best, (time.process_time() - start) / 200)
            return best

    small, large = asyncio.run(per_lease(100)), asyncio.run(per_lease(2000))
    shown = f"{large * 1e3:.3f} ms per lease with 2,000 accounts, {small * 1e3:.3f} ms with 100"
    assert large < 3 * small, shown
