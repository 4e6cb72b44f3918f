"""The memory of a long-running server: the garbage collector off during start-up, then tuned;
the C heap's free pages given back when the server is idle.

Start-up builds tens of thousands of objects that live as long as the process (modules, the
route table, the pools) and almost no garbage (a collection right after it found
10 objects). Collecting while they are built only walks them again and again (three full
collections, 0.1-0.3 s of start-up on a loaded machine), so ``serve`` starts with the collector
off and ``settle`` turns it on once the app is up. CPython 3.11's full collections walk every
long-lived object: under 50 concurrent chats one took 100-200 ms with the event loop stopped
(measured 2026-12 with gc.callbacks, two per 400 turns), which is what the slowest first tokens
waited for. ``gc.freeze()`` moves start-up's objects to a generation no collection visits (the
same full collection: 2-6 ms). A request allocates thousands of short-lived containers: with the
young generation collected every 10,000 allocations instead of 700, most of them are freed by
reference counting before any collection sees them, and none is promoted to be walked again
(gen0 + gen1 time per 400 turns: 0.13 s -> 0.07 s; gen1 collections of 3-10 ms: 21 -> 0).
Cycles are still collected, a little later. What loads later, on the first request that needs
it (a dialect's pydantic models, FastAPI for /docs and the admin page), is not frozen: freezing
then would also freeze the garbage of the requests in flight; it adds 1-4 ms to a full collection.

After work, the C heap keeps what was freed: glibc hands memory back to the system only from
the top of its heap, and large blocks come from the heap, not their own mappings, once one was
freed (its threshold rises to their size). After a few turns with long answers a server held
10 MB more, and its next burst peaked that much higher (1,000 streams: 243 -> 233 MB measured
2026-12 with a ``malloc_trim`` in between). ``IdleTrim`` returns the free pages (``malloc_trim``,
about 2 ms) once no turn has run for ``IDLE_TRIM_S`` after some did.

Each thread that allocates gets a glibc arena of its own, up to 8 per core, and an arena keeps
what its thread freed. The server's threads are many and short of work (SQLite calls, counts and
files in anyio's worker threads, up to 40; the tokenizer's load): under 1,000 streams their arenas
held ~10 MB more at the peak than with four arenas in all (``bench/table.py --only ttft many``,
2026-12: 231.0 -> 220.8 MB, two arenas 219.9; the time to first token and the CPU per turn alike within
the spread). ``cap_arenas`` sets that cap (``M_ARENA_MAX``) unless ``MALLOC_ARENA_MAX`` is set.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import os
from collections.abc import Callable

YOUNG_THRESHOLD = 10_000
ARENAS = 4  # glibc malloc arenas the process may have (the main thread's among them)
_M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)
# Seconds without a turn in flight, after one ran, before the free heap pages go back.
IDLE_TRIM_S = 2.0


def cap_arenas(arenas: int = ARENAS) -> None:
    """Let threads share ``arenas`` malloc arenas (glibc; elsewhere nothing); the operator's
    ``MALLOC_ARENA_MAX`` wins."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt(_M_ARENA_MAX, arenas)


def pause() -> None:
    """No collections while start-up builds what lives as long as the process (``settle`` ends it)."""
    gc.disable()


def settle() -> None:
    """Freeze what start-up built, collect the young generation less often, and collect again."""
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_THRESHOLD), middle, old)
    gc.enable()


def give_back_free_memory() -> None:
    """Return the C heap's free pages to the system (glibc's ``malloc_trim``; elsewhere nothing)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim this way
        return
    trim(0)


class IdleTrim:
    """``give_back_free_memory`` once no turn has run for ``delay_s`` after some did (``busy``/``idle``)."""

    def __init__(
        self, delay_s: float = IDLE_TRIM_S, trim: Callable[[], None] = give_back_free_memory
    ) -> None:
        self._delay_s = delay_s
        self._trim = trim
        self._worked = False  # a turn ran since the last trim: there may be something to give back
        self._timer: asyncio.TimerHandle | None = None

    def busy(self) -> None:
        """A turn starts: no trim while it runs."""
        self._worked = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def idle(self) -> None:
        """The last turn in flight ended: trim after ``delay_s`` unless another starts (on the loop)."""
        if self._worked and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._delay_s, self._run)

    def _run(self) -> None:
        self._timer = None
        self._worked = False
        self._trim()
