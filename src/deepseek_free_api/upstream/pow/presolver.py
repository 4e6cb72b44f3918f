"""Proof of work solved ahead of the request.

For each (account, target path) the pre-solver keeps one challenge fetched and solved in the
background, so a request finds its ``X-Ds-Pow-Response`` ready. Each solved challenge is handed
out at most once (DeepSeek wants a fresh one per request, PROTOCOL.md §3.6), never after
``expire_at`` minus a safety margin, and taking one starts fetching the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .challenge import PowAnswer, PowChallenge
from .solver import solve_async

logger = logging.getLogger(__name__)

# (account key, target path) -> a fresh challenge for that path; Step 3's client provides it.
FetchChallenge = Callable[[str, str], Awaitable[PowChallenge]]
SolveChallenge = Callable[[PowChallenge], Awaitable[int]]

# Challenges live 300 s (expire_after, 2025-2026); keep a margin for clock skew and the request.
DEFAULT_MARGIN_S = 30.0


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
        margin_s: float = DEFAULT_MARGIN_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch
        self._solve = solve
        self._margin_s = margin_s
        self._clock = clock
        self._slots: dict[tuple[str, str], asyncio.Task[_Solved]] = {}
        self._closed = False

    def warm(self, account: str, target_path: str) -> None:
        """Start fetching and solving one challenge for this pair, unless one is on its way."""
        if self._closed:
            return
        key = (account, target_path)
        if key not in self._slots:
            self._slots[key] = asyncio.create_task(
                self._prepare(account, target_path), name=f"pow-presolve {target_path}"
            )

    def ready(self, account: str, target_path: str) -> bool:
        """True when ``take`` would return at once with a pre-solved answer."""
        task = self._slots.get((account, target_path))
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return False
        return self._fresh(task.result())

    async def take(self, account: str, target_path: str, *, refill: bool = True) -> PowAnswer:
        """A solved, unexpired challenge that nobody else gets; the next one is prepared after it.

        With ``refill=False`` the caller calls ``warm`` itself later, e.g. once its request is on
        the wire, so the refill never competes with the request it was taken for.
        """
        task = self._slots.pop((account, target_path), None)
        try:
            if task is not None:
                try:
                    solved = await task
                except asyncio.CancelledError:
                    current = asyncio.current_task()
                    if current is not None and current.cancelling():
                        raise  # our caller is being cancelled, not just the background task
                except Exception as exc:  # a failed background fetch: try again in the foreground
                    logger.warning("pre-solving proof of work failed (%s); solving on demand", exc)
                else:
                    if self._fresh(solved):
                        return solved.answer
            # Nothing usable was prepared: solve one now. It was fetched just now, so it is handed
            # out even if our clock disagrees with DeepSeek's about expire_at.
            return (await self._prepare(account, target_path)).answer
        finally:
            if refill:
                self.warm(account, target_path)

    def forget(self, account: str) -> None:
        """Drop everything prepared for ``account`` (removed, or its token changed)."""
        for key in [key for key in self._slots if key[0] == account]:
            self._discard(self._slots.pop(key))

    async def aclose(self) -> None:
        """Cancel background work; later ``warm`` calls do nothing."""
        self._closed = True
        tasks = list(self._slots.values())
        self._slots.clear()
        for task in tasks:
            self._discard(task)
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    async def _prepare(self, account: str, target_path: str) -> _Solved:
        fetched_at = self._clock()
        challenge = await self._fetch(account, target_path)
        answer = await self._solve(challenge)
        return _Solved(PowAnswer(challenge, answer), fetched_at)

    def _fresh(self, solved: _Solved) -> bool:
        """Usable for at least the margin: by ``expire_at`` and by age against ``expire_after``."""
        now = self._clock()
        challenge = solved.answer.challenge
        if now >= challenge.expire_at / 1000 - self._margin_s:
            return False
        lifetime = challenge.expire_after
        return lifetime is None or now < solved.fetched_at + lifetime / 1000 - self._margin_s

    @staticmethod
    def _discard(task: asyncio.Task[_Solved]) -> None:
        if task.done():
            if not task.cancelled():
                task.exception()  # mark retrieved: a failed pre-solve is not worth a warning
        else:
            task.cancel()
