"""Answers whose bytes are in and not yet made into a first token: the work that goes first.

In a burst the event loop runs what is ready in the order it became ready. An answer whose first
bytes have come needs well under a millisecond of work to put its first token on the wire, but it
used to queue behind the rest of the answers already flowing: with 50 requests at once, the first
tokens followed one another 0.6 ms apart, each behind the previous answer's rest (the simulator
sends a short answer whole), where they now follow about 0.05 ms apart (``bench/timeline.py
--concurrency 50``, BENCHMARKS.md, session 11).

So a stream tells this register when bytes came for an answer whose first token is not out yet
(``ready``), and when that is no longer so (``done``): its reader took them and waits again with
nothing visible yet, its first token was written (and, with no other turn waiting, the CPU left to
its reader for a millisecond: ``chat.turn.HANDOVER_S``), or it closed. While any is ready
(``busy``), the rest of an answer whose first token is out waits, 50 ms at most (``wait``,
``chat.turn``).
What is counted is work ready to run, never a wait on DeepSeek: an answer still waiting for its
first token upstream (a search, a long think) holds nothing back. New turns do not wait: their
call starts the longest wait of all, DeepSeek's answer (held back 20 ms at most while first-token
work was ready, the median at 50 concurrent was worse: BENCHMARKS.md, session 11).

One register per event loop. An entry older than ``STALE_S`` is dropped when seen: whatever path
failed to say ``done`` (a transfer abandoned before its reader came), it holds nothing back for
longer than that.
"""

from __future__ import annotations

import asyncio
import time
import weakref

# First-token work takes well under a millisecond; an entry this old was never told done.
STALE_S = 1.0

_REGISTERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FirstTokenWork] = weakref.WeakKeyDictionary()


class FirstTokenWork:
    """The answers of one event loop with bytes in and no first token out (see the module)."""

    # No reference to its loop: the register is the value of a weak mapping keyed by the loop.
    __slots__ = ("_ready", "_waiters")

    def __init__(self) -> None:
        # stream -> since (time.monotonic, the loop's clock); in the order marked, so oldest first
        self._ready: dict[object, float] = {}
        self._waiters: dict[asyncio.Future[None], None] = {}  # in the order they came

    def ready(self, stream: object) -> None:
        """Bytes came for ``stream``, whose first token is not out."""
        if stream not in self._ready:
            self._ready[stream] = time.monotonic()

    def done(self, stream: object) -> None:
        """``stream`` holds nothing back any more (taken with nothing visible, first token out, closed)."""
        if self._ready.pop(stream, None) is not None and not self._ready:
            self._wake()

    @property
    def busy(self) -> bool:
        """Whether any answer's first-token work is ready to run."""
        ready = self._ready
        if not ready:
            return False
        stale = time.monotonic() - STALE_S
        while ready and next(iter(ready.values())) < stale:  # the oldest first: O(1) when none is
            del ready[next(iter(ready))]
        if not ready:
            self._wake()
            return False
        return True

    async def wait(self, limit_s: float) -> None:
        """Return once no first-token work is ready, or after ``limit_s``.

        The waiters go together, in the order they came. (Let go one per turn of the event loop
        instead, so that first tokens that come meanwhile go before the next waiter, the burst's
        early answers came sooner and its late ones later, for no gain in the median: BENCHMARKS.md,
        session 11.)
        """
        if not self.busy:
            return
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiters[waiter] = None
        timer = loop.call_later(limit_s, _settle, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiters.pop(waiter, None)  # its limit came, or it was cancelled: nothing to let go

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, {}
        for waiter in waiters:
            _settle(waiter)


def first_token_work(loop: asyncio.AbstractEventLoop | None = None) -> FirstTokenWork:
    """The register of ``loop`` (the running loop by default)."""
    if loop is None:
        loop = asyncio.get_running_loop()
    work = _REGISTERS.get(loop)
    if work is None:
        work = _REGISTERS[loop] = FirstTokenWork()
    return work


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
