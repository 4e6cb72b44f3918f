"""The garbage collector set for a long-running server: off during start-up, then tuned.

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
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000


def pause() -> None:
    """No collections while start-up builds what lives as long as the process (``settle`` ends it)."""
    gc.disable()


def settle() -> None:
    """Freeze what start-up built, collect the young generation less often, and collect again."""
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_THRESHOLD), middle, old)
    gc.enable()
