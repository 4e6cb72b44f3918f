"""Proof of work solved ahead of the request.

For each (account, target path) the pre-solver keeps one challenge fetched and solved in the
background, so a request finds its ``X-Ds-Pow-Response`` ready. Each solved challenge is handed
out at most once (DeepSeek wants a fresh one per request, PROTOCOL.md §3.6), never after
``expire_at`` minus a safety margin.

Background work is bounded so that refills never starve live streams: at most ``concurrency``
slots fetch or wait to be solved at once (the rest wait in line, holding no challenge), and
every background solve runs on one low-priority thread (``BackgroundSolver``). A challenge that
expired while it waited for that thread is fetched again instead of being solved or handed out.
A request that finds nothing ready never waits for background work (in line, or on a thread
that runs below the live streams): it fetches and solves in the foreground, on every CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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
        self._slots: dict[tuple[str, str], asyncio.Task[_Solved]] = {}
        self._closed = False

    def warm(self, account: str, target_path: str) -> None:
        """Queue fetching and solving one challenge for this pair, unless one is on its way."""
        if self._closed:
            return
        key = (account, target_path)
        if key not in self._slots:
            self._slots[key] = asyncio.create_task(
                self._prepare_in_background(account, target_path), name=f"pow-presolve {target_path}"
            )

    def ready(self, account: str, target_path: str) -> bool:
        """True when ``take`` would return at once with a pre-solved answer."""
        task = self._slots.get((account, target_path))
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
        task = self._slots.pop((account, target_path), None)
        try:
            if task is not None:
                solved = self._discard(task)  # unfinished work is not waited for (module doc)
                if solved is not None and self._fresh(solved):
                    return solved.answer
            # Nothing usable was prepared: fetch and solve one now, on every CPU. It was fetched
            # just now, so it is handed out even if our clock disagrees with DeepSeek's.
            challenge = await (fetch() if fetch is not None else self._fetch(account, target_path))
            return PowAnswer(challenge, await self._solve(challenge))
        finally:
            if refill:
                self.warm(account, target_path)

    def rejected(self) -> int:
        """DeepSeek refused a correct answer (40301): drop every answer prepared until now, for
        every account, and prepare new ones; returns how many were dropped.

        A correct, unexpired answer is refused when DeepSeek no longer knows its challenge (its
        signing secret changed, e.g. after a restart of its side): that hits every challenge
        fetched before, not only the one refused, and each would cost a failed attempt.
        """
        stale = list(self._slots)  # every slot was fetched before this refusal (or is being solved)
        for key in stale:
            self._discard(self._slots.pop(key))
        for account, target_path in stale:
            self.warm(account, target_path)
        return len(stale)

    def forget(self, account: str) -> None:
        """Drop everything prepared or queued for ``account`` (removed, or its token changed)."""
        for key in [key for key in self._slots if key[0] == account]:
            self._discard(self._slots.pop(key))

    async def aclose(self) -> None:
        """Cancel background work and stop the solving thread; later ``warm`` calls do nothing."""
        self._closed = True
        tasks = list(self._slots.values())
        self._slots.clear()
        for task in tasks:
            self._discard(task)
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        self._background.close()

    async def _prepare_in_background(self, account: str, target_path: str) -> _Solved:
        async with self._line:
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
    def _discard(task: asyncio.Task[_Solved]) -> _Solved | None:
        """The finished task's answer; cancels unfinished work and logs a failed one."""
        if not task.done():
            task.cancel()
            return None
        if task.cancelled():
            return None
        exc = task.exception()
        if exc is not None:
            logger.info("pre-solving proof of work failed: %s", exc)
            return None
        return task.result()
