"""The pre-solver with a fake challenge fetcher and a fake clock."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import sys
import threading
import time
from collections.abc import Awaitable, Callable

import pytest

from deepseek_free_api.errors import UpstreamServerError
from deepseek_free_api.upstream.pow import NativeBackend, PowAnswer, PowChallenge, PowPresolver
from deepseek_free_api.upstream.pow import solver as solver_module
from deepseek_free_api.upstream.pow.reference import deepseek_hash_v1

PATH = "/api/v0/chat/completion"
LIFETIME_MS = 300_000


class Clock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self) -> None:
        self.now = 1_760_000_000.0

    def __call__(self) -> float:
        return self.now


class FakeDeepSeek:
    """Hands out distinct small-difficulty challenges, like create_pow_challenge would."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls: list[tuple[str, str]] = []
        self.serial = itertools.count()
        self.rng = random.Random(5)
        self.gate: asyncio.Event | None = None  # when set, fetches wait for it
        self.failures = 0  # the next N fetches fail
        self.skew_ms = 0  # how far DeepSeek's clock is ahead of ours
        self.held: set[str] = set()  # accounts whose fetches wait for the gate (empty: all of them)
        self.cancelled: list[str] = []  # accounts whose fetch was cancelled while waiting

    async def fetch(self, account: str, target_path: str) -> PowChallenge:
        self.calls.append((account, target_path))
        if self.gate is not None and (not self.held or account in self.held):
            try:
                await self.gate.wait()
            except asyncio.CancelledError:
                self.cancelled.append(account)
                raise
        if self.failures:
            self.failures -= 1
            raise UpstreamServerError("create_pow_challenge failed")
        expire_at = int(self.clock.now * 1000) + self.skew_ms + LIFETIME_MS
        salt = f"{next(self.serial):020x}"
        answer = self.rng.randrange(2000)
        digest = deepseek_hash_v1(f"{salt}_{expire_at}_{answer}".encode())
        return PowChallenge.from_json(
            {
                "algorithm": "DeepSeekHashV1",
                "challenge": digest.hex(),
                "salt": salt,
                "signature": salt * 2,
                "difficulty": 2000,
                "expire_at": expire_at,
                "expire_after": LIFETIME_MS,
                "target_path": target_path,
            }
        )


def valid(answer: PowAnswer) -> bool:
    challenge = answer.challenge
    return deepseek_hash_v1(challenge.prefix + str(answer.answer).encode()) == challenge.target


def run(test: Callable[[PowPresolver, FakeDeepSeek, Clock], Awaitable[None]]) -> None:
    async def main() -> None:
        clock = Clock()
        upstream = FakeDeepSeek(clock)
        presolver = PowPresolver(upstream.fetch, clock=clock)
        try:
            await test(presolver, upstream, clock)
        finally:
            await presolver.aclose()

    asyncio.run(main())


async def settle(presolver: PowPresolver, account: str = "a1") -> None:
    for _ in range(2000):
        if presolver.ready(account, PATH):
            return
        await asyncio.sleep(0.005)
    raise AssertionError("pre-solve never finished")


def test_answer_is_ready_without_waiting_after_warm_up() -> None:
    async def scenario(presolver: PowPresolver, upstream: FakeDeepSeek, clock: Clock) -> None:
        presolver.warm("a1", PATH)
        await settle(presolver)
        upstream.gate = asyncio.Event()  # from now on DeepSeek never answers
        answer = await asyncio.wait_for(presolver.take("a1", PATH), timeout=30)
        assert valid(answer) and answer.challenge.target_path == PATH
        # Taking it started the refill in the background (stuck on the gate), not before.
        await asyncio.sleep(0)
        assert upstream.calls == [("a1", PATH), ("a1", PATH)]
        assert not presolver.ready("a1", PATH)

    run(scenario)


def test_take_without_warm_up_solves_on_demand_and_then_keeps_one_ready() -> None:
    async def scenario(presolver: PowPresolver, upstream: FakeDeepSeek, clock: Clock) -> None:
        first = await presolver.take("a1", PATH)
        assert valid(first)
        await settle(presolver)
        second = await presolver.take("a1", PATH)
        assert valid(second) and second.challenge != first.challenge
        await asyncio.sleep(0)
        assert len(upstream.calls) == 3  # on demand, the refill taken second, the next refill

    run(scenario)


def test_expired_challenges_are_never_handed_out() -> None:
    async def scenario(presolver: PowPresolver, upstream: FakeDeepSeek, clock: Clock) -> None:
        presolver.warm("a1", PATH)
        await settle(presolver)
        stale_deadline = clock.now + LIFETIME_MS / 1000 - 30  # default margin 30 s
        clock.now = stale_deadline + 0.001
        assert not presolver.ready("a1", PATH)
        answer = await presolver.take("a1", PATH)
        assert valid(answer)
        assert answer.challenge.expire_at / 1000 > clock.now + 30
        assert len(upstream.calls) == 2

    run(scenario)


def test_expiry_also_counts_from_fetch_time_when_clocks_disagree() -> None:
    async def scenario(presolver: PowPresolver, upstream: FakeDeepSeek, clock: Clock) -> None:
        # DeepSeek's clock runs an hour ahead: expire_at alone would look fine for an hour.
        upstream.skew_ms = 3_600_000
        presolver.warm("a1", PATH)
        await settle(presolver)
        clock.now += LIFETIME_MS / 1000  # five minutes later the challenge is dead upstream
        assert not presolver.ready("a1", PATH)

    run(scenario)


def test_concurrent_takers_never_get_the_same_answer() -> None:
    async def scenario(presolver: PowPresolver, upstream: FakeDeepSeek, clock: Clock) -> None:
        presolver.warm("a1", PATH)
        await settle(presolver)
        answers = await asyncio.gather(*(presolver.take("a1", PATH) for _ in range(12)))
        assert all(valid(answer) for answer in answers)
        assert len({answer.challenge.salt for answer in answers}) == 12

    run(scenario)


def test_accounts_and_paths_have_their_own_slots() -> None:
    async def scenario(presolver: PowPresolver, upstream: FakeDeepSeek, clock: Clock) -> None:
        presolver.warm("a1", PATH)
        presolver.warm("a2", PATH)
        presolver.warm("a1", "/api/v0/file/upload_file")
        presolver.warm("a1", PATH)  # already on its way: no second fetch
        await settle(presolver, "a1")
        await settle(presolver, "a2")
        assert sorted(upstream.calls) == sorted(
            [("a1", PATH), ("a2", PATH), ("a1", "/api/v0/file/upload_file")]
        )
        upload = await presolver.take("a1", "/api/v0/file/upload_file")
        assert upload.challenge.target_path == "/api/v0/file/upload_file"
        presolver.forget("a2")
        assert not presolver.ready("a2", PATH)

    run(scenario)


def test_failed_background_fetch_is_retried_on_demand() -> None:
    async def scenario(presolver: PowPresolver, upstream: FakeDeepSeek, clock: Clock) -> None:
        upstream.failures = 1
        presolver.warm("a1", PATH)
        await asyncio.sleep(0.01)
        answer = await presolver.take("a1", PATH)
        assert valid(answer)

    run(scenario)


def test_failure_on_demand_reaches_the_caller() -> None:
    async def scenario(presolver: PowPresolver, upstream: FakeDeepSeek, clock: Clock) -> None:
        upstream.failures = 2
        with pytest.raises(UpstreamServerError):
            await presolver.take("a1", PATH)

    run(scenario)


def test_cancelled_taker_stays_cancelled() -> None:
    async def scenario(presolver: PowPresolver, upstream: FakeDeepSeek, clock: Clock) -> None:
        upstream.gate = asyncio.Event()
        presolver.warm("a1", PATH)
        taker = asyncio.create_task(presolver.take("a1", PATH))
        await asyncio.sleep(0.01)
        taker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await taker

    run(scenario)


class WatchedBackend:
    """The C core, recording which threads solve, how many at once and at what nice value.

    ``gate``, when set, holds background solves until it opens; ``pause`` widens each solve so that
    overlapping solves would be seen (it is not a timing assertion).
    """

    def __init__(self, pause: float = 0.0) -> None:
        self.inner = NativeBackend("scalar")
        self.pause = pause
        self.gate: threading.Event | None = None
        self.lock = threading.Lock()
        self.active = 0
        self.most_at_once = 0
        self.threads: set[str] = set()
        self.niceness: set[int] = set()
        self.started = threading.Event()

    @property
    def name(self) -> str:
        return "watched"

    def digest(self, data: bytes) -> bytes:
        return self.inner.digest(data)

    def search(self, target: bytes, prefix: bytes, difficulty: int) -> int | None:
        with self.lock:
            self.active += 1
            self.most_at_once = max(self.most_at_once, self.active)
            self.threads.add(threading.current_thread().name)
            if sys.platform.startswith("linux"):
                self.niceness.add(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        self.started.set()
        try:
            if self.gate is not None and threading.current_thread().name.startswith("pow-background"):
                self.gate.wait(30)
            time.sleep(self.pause)
            return self.inner.search(target, prefix, difficulty)
        finally:
            with self.lock:
                self.active -= 1


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> WatchedBackend:
    """Every solve without an explicit backend goes through a WatchedBackend."""
    backend = WatchedBackend()
    monkeypatch.setattr(solver_module, "default_backend", lambda: backend)
    return backend


def test_refills_are_solved_one_at_a_time_on_one_lowered_thread(watched: WatchedBackend) -> None:
    # 20 accounts warmed at once (a start-up): their solves must not take every core from live
    # streams, so they queue for one background thread that runs below normal priority.
    watched.pause = 0.01

    async def scenario(presolver: PowPresolver, upstream: FakeDeepSeek, clock: Clock) -> None:
        accounts = [f"a{i}" for i in range(20)]
        for account in accounts:
            presolver.warm(account, PATH)
        for account in accounts:
            await settle(presolver, account)
        assert watched.most_at_once == 1
        assert len(watched.threads) == 1 and watched.threads.pop().startswith("pow-background")
        if sys.platform.startswith("linux"):
            assert watched.niceness == {min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)}
        # A request that found nothing ready does not queue behind refills: it solves elsewhere.
        watched.threads.clear()
        assert valid(await presolver.take("cold", PATH, refill=False))
        assert not any(name.startswith("pow-background") for name in watched.threads)

    run(scenario)


def test_a_challenge_that_expired_waiting_for_the_solver_is_fetched_again(watched: WatchedBackend) -> None:
    async def scenario(presolver: PowPresolver, upstream: FakeDeepSeek, clock: Clock) -> None:
        watched.gate = threading.Event()  # the solver is stuck on a1's challenge ...
        presolver.warm("a1", PATH)
        presolver.warm("a2", PATH)
        await asyncio.to_thread(watched.started.wait, 30)
        for _ in range(100):
            await asyncio.sleep(0.005)
        assert sorted(upstream.calls) == [("a1", PATH), ("a2", PATH)]
        clock.now += LIFETIME_MS / 1000  # ... until both challenges are dead
        watched.gate.set()
        # a2's challenge expired before the solver reached it: it is fetched again and solved,
        # so a2 is ready with a live answer without any request paying for it.
        await settle(presolver, "a2")
        assert upstream.calls.count(("a2", PATH)) == 2
        answer = await presolver.take("a2", PATH, refill=False)
        assert valid(answer) and answer.challenge.expire_at / 1000 > clock.now + 30
        # a1's answer was solved too late: never handed out; a request gets a fresh one.
        assert not presolver.ready("a1", PATH)
        late = await presolver.take("a1", PATH, refill=False)
        assert late.challenge.expire_at / 1000 > clock.now + 30

    run(scenario)


def test_forget_cancels_queued_and_in_flight_work_of_that_account() -> None:
    async def scenario(presolver: PowPresolver, upstream: FakeDeepSeek, clock: Clock) -> None:
        upstream.gate = asyncio.Event()  # DeepSeek is slow to answer
        accounts = [f"a{i}" for i in range(1, 13)]
        for account in accounts:
            presolver.warm(account, PATH)
        await asyncio.sleep(0.01)
        # A start-up of many accounts fetches a bounded number of challenges at once.
        assert 0 < len(upstream.calls) < len(accounts)
        in_flight, queued = upstream.calls[0][0], accounts[-1]
        assert (queued, PATH) not in upstream.calls
        presolver.forget(in_flight)
        presolver.forget(queued)
        await asyncio.sleep(0)
        assert upstream.cancelled == [in_flight]
        upstream.gate.set()
        for account in accounts:
            if account not in (in_flight, queued):
                await settle(presolver, account)
        assert (queued, PATH) not in upstream.calls  # its queued work never ran
        assert upstream.calls.count((in_flight, PATH)) == 1
        assert not presolver.ready(in_flight, PATH) and not presolver.ready(queued, PATH)

    run(scenario)


def test_a_request_does_not_wait_behind_queued_refills() -> None:
    async def scenario(presolver: PowPresolver, upstream: FakeDeepSeek, clock: Clock) -> None:
        upstream.gate = asyncio.Event()
        upstream.held = {f"a{i}" for i in range(1, 12)}  # these never get an answer from DeepSeek
        for i in range(1, 13):
            presolver.warm(f"a{i}", PATH)
        await asyncio.sleep(0.01)
        assert ("a12", PATH) not in upstream.calls  # still in line behind the stuck ones
        answer = await asyncio.wait_for(presolver.take("a12", PATH, refill=False), timeout=30)
        assert valid(answer)

    run(scenario)


def test_a_request_does_not_wait_for_a_background_solve(watched: WatchedBackend) -> None:
    async def scenario(presolver: PowPresolver, upstream: FakeDeepSeek, clock: Clock) -> None:
        watched.gate = threading.Event()  # the low-priority thread gets no CPU time
        try:
            presolver.warm("a1", PATH)
            await asyncio.to_thread(watched.started.wait, 30)
            answer = await asyncio.wait_for(presolver.take("a1", PATH, refill=False), timeout=30)
            assert valid(answer) and upstream.calls == [("a1", PATH), ("a1", PATH)]
        finally:
            watched.gate.set()

    run(scenario)
