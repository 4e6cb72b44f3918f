"""Proof of work solved ahead of the request.

For each (account, target path) the pre-solver keeps one challenge fetched and solved in the
background, so a request finds its ``X-Ds-Pow-Response`` ready. Each solved challenge is handed
out at most once (DeepSeek wants a fresh one per request, PROTOCOL.md §3.6), never after
``expire_at`` minus a safety margin.

Background work is bounded so that refills never starve live streams: at most ``concurrency``
slots fetch or wait to be solved at once (the rest wait in line, holding no challenge), and
every background solve runs on one low-priority thread (``BackgroundSolver``). A challenge that
expired while it waited for that thread is fetched again instead of being solved or handed out.
A request that finds nothing ready does not wait in that line: it fetches and solves in the
foreground, on every CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ...errors import PowError
from .challenge import PowAnswer, PowChallenge
from .solver import BackgroundSolver, solve_async

logger = logging.getLogger(__name__)

# (account key, target path) -> a fresh challenge for that path; Step 3's client provides it.
FetchChallenge = Callable[[str, str], Awaitable[PowChallenge]]
SolveChallenge = Callable[[PowChallenge], Awaitable[int]]

# Challenges live 300 s (expire_after, 2025-2026); keep a margin for clock skew and the request.
DEFAULT_MARGIN_S = 30.0
# Slots fetching or waiting for the background thread at once: each waits at most this many
# solves (~50 ms each single-threaded at difficulty 144 000), far below a challenge's lifetime.
DEFAULT_CONCURRENCY = 8
# Fresh challenges that may expire in line before a background slot gives up (the next ``take``
# then solves in the foreground, where a just-fetched challenge is always handed out).
MAX_FETCHES = 3


@dataclass(frozen=True)
class _Solved:
    answer: PowAnswer
    fetched_at: float  # clock() when the challenge was fetched


@dataclass(eq=False)
class _Slot:
    """One background preparation; ``started`` once it left the line (fetching or solving)."""

    task: asyncio.Task[_Solved] | None = None
    started: bool = field(default=False)


class PowPresolver:
    """Keeps one solved challenge per (account, target path) ready; ``take`` hands it out once."""

    def __init__(
        self,
        fetch: FetchChallenge,
        *,
        solve: SolveChallenge = solve_async,
        background: BackgroundSolver | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        margin_s: float = DEFAULT_MARGIN_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch
        self._solve = solve  # foreground: every CPU, for a request that found nothing ready
        self._background = background or BackgroundSolver()
        self._line = asyncio.Semaphore(concurrency)
        self._margin_s = margin_s
        self._clock = clock
        self._slots: dict[tuple[str, str], _Slot] = {}
        self._closed = False

    def warm(self, account: str, target_path: str) -> None:
        """Queue fetching and solving one challenge for this pair, unless one is on its way."""
        if self._closed:
            return
        key = (account, target_path)
        if key not in self._slots:
            slot = _Slot()
            slot.task = asyncio.create_task(
                self._prepare_in_background(account, target_path, slot), name=f"pow-presolve {target_path}"
            )
            self._slots[key] = slot

    def ready(self, account: str, target_path: str) -> bool:
        """True when ``take`` would return at once with a pre-solved answer."""
        slot = self._slots.get((account, target_path))
        task = slot.task if slot is not None else None
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return False
        return self._fresh(task.result())

    async def take(
        self,
        account: str,
        target_path: str,
        *,
        refill: bool = True,
        fetch: Callable[[], Awaitable[PowChallenge]] | None = None,
    ) -> PowAnswer:
        """A solved, unexpired challenge that nobody else gets; the next one is prepared after it.

        With ``refill=False`` the caller calls ``warm`` itself later, e.g. once its request is on
        the wire, so the refill never competes with the request it was taken for. ``fetch``, if
        given, fetches the challenge when one must be solved now (e.g. with the caller's identity).
        """
        slot = self._slots.pop((account, target_path), None)
        try:
            if slot is not None and slot.task is not None:
                if not slot.started:
                    self._discard(slot.task)  # still in line: solving now beats waiting behind it
                else:
                    try:
                        solved = await slot.task
                    except asyncio.CancelledError:
                        current = asyncio.current_task()
                        if current is not None and current.cancelling():
                            raise  # our caller is being cancelled, not just the background task
                    except Exception as exc:  # a failed background fetch: try again in the foreground
                        logger.warning("pre-solving proof of work failed (%s); solving on demand", exc)
                    else:
                        if self._fresh(solved):
                            return solved.answer
            # Nothing usable was prepared: fetch and solve one now, on every CPU. It was fetched
            # just now, so it is handed out even if our clock disagrees with DeepSeek's.
            challenge = await (fetch() if fetch is not None else self._fetch(account, target_path))
            return PowAnswer(challenge, await self._solve(challenge))
        finally:
            if refill:
                self.warm(account, target_path)

    def forget(self, account: str) -> None:
        """Drop everything prepared or queued for ``account`` (removed, or its token changed)."""
        for key in [key for key in self._slots if key[0] == account]:
            task = self._slots.pop(key).task
            if task is not None:
                self._discard(task)

    async def aclose(self) -> None:
        """Cancel background work and stop the solving thread; later ``warm`` calls do nothing."""
        self._closed = True
        tasks = [slot.task for slot in self._slots.values() if slot.task is not None]
        self._slots.clear()
        for task in tasks:
            self._discard(task)
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        self._background.close()

    async def _prepare_in_background(self, account: str, target_path: str, slot: _Slot) -> _Solved:
        async with self._line:
            slot.started = True
            for _ in range(MAX_FETCHES):
                fetched_at = self._clock()
                challenge = await self._fetch(account, target_path)
                wanted = functools.partial(self._usable, challenge, fetched_at)
                answer = await self._background.solve(challenge, wanted=wanted)
                if answer is not None:
                    return _Solved(PowAnswer(challenge, answer), fetched_at)
                logger.info("a proof-of-work challenge expired while waiting to be solved; fetching another")
            raise PowError(f"proof-of-work challenges expired {MAX_FETCHES} times while waiting to be solved")

    def _fresh(self, solved: _Solved) -> bool:
        return self._usable(solved.answer.challenge, solved.fetched_at)

    def _usable(self, challenge: PowChallenge, fetched_at: float) -> bool:
        """Usable for at least the margin: by ``expire_at`` and by age against ``expire_after``."""
        now = self._clock()
        if now >= challenge.expire_at / 1000 - self._margin_s:
            return False
        lifetime = challenge.expire_after
        return lifetime is None or now < fetched_at + lifetime / 1000 - self._margin_s

    @staticmethod
    def _discard(task: asyncio.Task[_Solved]) -> None:
        if task.done():
            if not task.cancelled():
                task.exception()  # mark retrieved: a failed pre-solve is not worth a warning
        else:
            task.cancel()
