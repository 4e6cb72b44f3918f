"""The server's free accounts in lease order, kept up to date as they change, not sorted on each pass.

A pass used to rank every account for a request that takes any server account: 0.4 ms of the
event loop per lease with 1,000 accounts. ``ReadyAccounts`` keeps them in ``matching.rank``'s
order instead. Each account's health tells it when a field that order depends on changes
(``AccountHealth.on_change``); the changed accounts are put back in place at the start of the next
pass, so a pass costs about the same with 50 accounts or 1,000.

Each server account is in one of three places:

- *held*: leased by this process, in no list;
- *ready*: free, in ``_ready``, sorted by ``matching.rank``'s key and then the pool's own order
  (a stable sort keeps that order among equals);
- *paused*: free but paced, cooling down, muted or invalid, in the ``_due`` heap by the time its
  pause ends; it moves to ``_ready`` on the first pass after that time, with no change needed.
"""

from __future__ import annotations

import heapq
import itertools
import math
from bisect import bisect_left, insort
from collections.abc import Collection, Iterator
from functools import partial

from .matching import Slot, on_probation

# (elsewhere, idle since, last lease, pool order, slot): the pool order is unique, so the slot
# itself is never compared.
_Entry = tuple[bool, float, int, int, Slot]
_Due = tuple[float, int, Slot]


class ReadyAccounts:
    """The pool's free server accounts, best first (see the module docstring)."""

    def __init__(self) -> None:
        self._order: dict[Slot, int] = {}  # every server account served, with its place in the pool
        self._added = itertools.count()
        self._pushes = itertools.count()  # a heap entry's tie-break: one account may have stale ones
        self._changed: set[Slot] = set()  # to put back in place at the next ``refresh``
        self._ready: list[_Entry] = []
        self._entries: dict[Slot, _Entry] = {}
        self._due: list[_Due] = []  # paused accounts by the end of their pause; stale ones skipped
        self._paused: dict[Slot, _Due] = {}
        self._probation: set[Slot] = set()  # ready accounts with an invalid mark due for a re-check
        self._version = 0

    def add(self, slot: Slot) -> None:
        """Serve ``slot`` (a server account; other accounts are not kept here)."""
        if slot.account.source != "server":
            return
        self._order[slot] = next(self._added)
        slot.health.on_change = partial(self._changed.add, slot)
        self._changed.add(slot)

    def remove(self, slot: Slot) -> None:
        """No longer serve ``slot``."""
        if self._order.pop(slot, None) is None:
            return
        slot.health.on_change = None
        self._changed.discard(slot)
        self._take_out(slot)
        self._version += 1

    def refresh(self, now: float) -> None:
        """Put every changed account in its place, and the accounts whose pause ended by ``now``."""
        if not self._changed and not (self._due and self._due[0][0] <= now):
            return
        self._version += 1
        changed = list(self._changed)  # (the same set: each account's ``on_change`` adds to it)
        self._changed.clear()
        for slot in changed:
            self._place(slot, now)
        while self._due and self._due[0][0] <= now:  # (``_place`` may rebuild the heap)
            entry = heapq.heappop(self._due)
            slot = entry[2]
            if self._paused.get(slot) is entry:
                self._place(slot, now)

    def ordered(self, now: float, exclude: Collection[str] = ()) -> Iterator[Slot]:
        """The ready accounts, best first, as of the last ``refresh`` (which must be at ``now``)."""
        version = self._version
        for entry in self._ready:
            if self._version != version:
                raise RuntimeError("the ready accounts changed while they were read")
            slot = entry[4]
            health = slot.health
            # Only a clock that went back could leave one here that is not free: skipped all the same.
            if health.holder is None and health.blocked_until() <= now and slot.account.id not in exclude:
                yield slot

    def probation(self, now: float, exclude: Collection[str] = ()) -> bool:
        """Whether an account due for a re-check of an invalid mark is among ``ordered(now, exclude)``."""
        return any(
            s.health.holder is None and s.health.blocked_until() <= now and s.account.id not in exclude
            for s in self._probation
        )

    def next_end(self, now: float) -> float | None:
        """When the first pause of a free server account ends after ``now`` (None: none ends by itself)."""
        self.refresh(now)
        due = self._due
        while due and self._paused.get(due[0][2]) is not due[0]:
            heapq.heappop(due)  # stale: that account moved since
        return due[0][0] if due and due[0][0] < math.inf else None

    def _place(self, slot: Slot, now: float) -> None:
        self._take_out(slot)
        order = self._order.get(slot)
        health = slot.health
        if order is None or health.holder is not None:
            return  # removed, or held here: in no list
        until = health.blocked_until()
        if until <= now:
            entry = (health.elsewhere, health.idle_since, health.last_lease_seq, order, slot)
            insort(self._ready, entry)
            self._entries[slot] = entry
            if on_probation(slot):
                self._probation.add(slot)
            return
        due = (until, next(self._pushes), slot)
        self._paused[slot] = due
        heapq.heappush(self._due, due)
        if len(self._due) > 2 * len(self._paused) + 64:  # stale entries of accounts that moved since
            self._due = list(self._paused.values())
            heapq.heapify(self._due)

    def _take_out(self, slot: Slot) -> None:
        entry = self._entries.pop(slot, None)
        if entry is not None:
            index = bisect_left(self._ready, entry)
            assert self._ready[index] is entry
            del self._ready[index]
            self._probation.discard(slot)
        self._paused.pop(slot, None)  # its heap entry is stale from now on
