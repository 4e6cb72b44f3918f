"""Which account a waiting request may get, whether it can ever get one, and how long that may take.

Pure functions over the pool's records, so the rules can be read (and tested) apart from the
queue that applies them.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import CapacityError, InvalidTokenError, NoUsableAccountError, ServiceError, UpstreamError
from .account import Account
from .health import AccountHealth
from .lease import Lease
from .parked import Parked

if TYPE_CHECKING:
    from .ready import ReadyAccounts


@dataclass(eq=False)
class Slot:
    """An account and its state, as the pool keeps them."""

    account: Account
    health: AccountHealth


@dataclass(eq=False)
class Waiter:
    """One request waiting for an account."""

    candidates: tuple[str, ...] | None  # None = every server account, resolved at each try
    prefer: str | None
    require: bool
    exclude: frozenset[str]
    deadline: float  # event-loop time
    owner: str  # who will hold the lease, e.g. "pid:request-id"
    future: asyncio.Future[Lease]  # the lease the pool's pass took for it, or why it cannot have one


def candidates_for(waiter: Waiter, slots: Mapping[str, Slot]) -> list[Slot]:
    """The accounts this waiter may use, whatever their state."""
    if waiter.candidates is None and waiter.require:  # the one server account asked for, if it is one
        slot = slots.get(waiter.prefer) if waiter.prefer is not None else None
        pool = [] if slot is None or slot.account.source != "server" else [slot]
    elif waiter.candidates is None:
        pool = [s for s in slots.values() if s.account.source == "server"]
    else:
        pool = [s for i in waiter.candidates if (s := slots.get(i)) is not None]
    if waiter.require:
        # Only among the candidates: a caller must not reach a server account through `prefer`.
        pool = [s for s in pool if s.account.id == waiter.prefer]
    return [s for s in pool if s.account.id not in waiter.exclude]


def rank(waiter: Waiter, candidates: list[Slot], now: float) -> list[Slot]:
    """The candidates free as far as this process knows, best first, to ask the store for in order.

    The preferred account first, then those not known to be leased by another process, each group
    idle longest first (the earliest end of its last lease here; least recently leased among
    equals): that spreads load and rests every account as long as possible. Leasing the least
    recently *leased* instead would pick an account that just finished a long answer over one
    that has rested since.
    """
    free = [s for s in candidates if s.health.holder is None and s.health.blocked_until() <= now]  # usable
    return sorted(
        free,
        key=lambda s: (
            s.account.id != waiter.prefer,
            s.health.elsewhere,
            s.health.idle_since,
            s.health.last_lease_seq,
        ),
    )


# The most accounts one waiter asks the store for at once, best first. When the store refuses
# them all (leased by other processes), they count as refused and the pass asks for the next ones.
ASKED = 16


class Ranking:
    """Accounts best first, taken from their source only as far as a pass reads them.

    A pass asks the store for a waiter's first few choices: with 1,000 free accounts it reads a
    handful of them, so the rest are never looked at.
    """

    def __init__(self, source: Iterable[Slot]) -> None:
        self._taken: list[Slot] = source if isinstance(source, list) else []
        self._rest: Iterator[Slot] | None = None if isinstance(source, list) else iter(source)

    def at(self, index: int) -> Slot | None:
        """The account at ``index`` (0 = the best), or None past the last."""
        taken = self._taken
        while index >= len(taken):
            slot = None if self._rest is None else next(self._rest, None)
            if slot is None:
                self._rest = None
                return None
            taken.append(slot)
        return taken[index]

    def all(self) -> list[Slot]:
        """Every account, best first."""
        if self._rest is not None:
            self._taken.extend(self._rest)
            self._rest = None
        return self._taken

    def __bool__(self) -> bool:
        return self.at(0) is not None


@dataclass(eq=False)
class Ranked:
    """One pass's ranking for the waiters that want the same accounts (``Rankings``)."""

    waiter: Waiter  # the first waiter of this kind
    slots: Mapping[str, Slot]
    ranked: Ranking
    probation: bool  # an account due for a re-check is among them: ``one_probe`` per waiter
    cursor: int = 0  # where the next waiter's first choice may be: those before are chosen or refused
    known: list[Slot] | None = field(default=None, repr=False)

    def candidates(self) -> list[Slot]:
        """The accounts these waiters may use, whatever their state (worked out when first needed)."""
        if self.known is None:
            self.known = candidates_for(self.waiter, self.slots)
        return self.known


class Rankings:
    """The candidates ranked once per pass for each kind of waiter, not once per waiter.

    Nearly every waiter wants any server account: with 1,000 accounts and 1,000 waiters, ranking
    for each of them (0.55 ms each) took over half a second of the event loop in one burst. The
    waiters of one kind then take their first choices in ranking order, each from where the last
    one stopped. For those that may take any server account, the order comes from ``ready`` (kept
    sorted as accounts change) instead of sorting every account on each pass.
    """

    def __init__(self, slots: Mapping[str, Slot], now: float, ready: ReadyAccounts | None = None) -> None:
        self._slots = slots
        self.now = now
        self._ready = ready
        self._refreshed = False
        self._kinds: dict[tuple[object, ...], Ranked] = {}

    def of(self, waiter: Waiter) -> Ranked:
        """The ranking for ``waiter``'s kind (its candidates, preference and exclusions)."""
        kind = (waiter.candidates, waiter.prefer, waiter.require, waiter.exclude)
        entry = self._kinds.get(kind)
        if entry is None:
            entry = self._kinds[kind] = self._ranked(waiter)
        return entry

    def _ranked(self, waiter: Waiter) -> Ranked:
        ready, now = self._ready, self.now
        if ready is not None and waiter.candidates is None and not waiter.require:
            if not self._refreshed:  # once per pass: an order being read must not change under it
                ready.refresh(now)
                self._refreshed = True
            # With an account due for a re-check among them (rare), each waiter needs the whole list.
            if not ready.probation(now, waiter.exclude):
                return Ranked(waiter, self._slots, Ranking(self._in_order(waiter, ready)), False)
        candidates = candidates_for(waiter, self._slots)
        ranked = rank(waiter, candidates, now)
        return Ranked(waiter, self._slots, Ranking(ranked), any(map(on_probation, ranked)), known=candidates)

    def _in_order(self, waiter: Waiter, ready: ReadyAccounts) -> Iterator[Slot]:
        """``rank``'s order for a waiter that may take any server account: the preferred one first."""
        first = None if waiter.prefer is None else self._slots.get(waiter.prefer)
        if first is not None and not (
            first.account.source == "server"
            and first.account.id not in waiter.exclude
            and first.health.usable(self.now)
        ):
            first = None
        if first is not None:
            yield first
        for slot in ready.ordered(self.now, waiter.exclude):
            if slot is not first:
                yield slot


def pick(
    ranked: Ranking, start: int, excluded: Collection[str], chosen: Collection[str]
) -> tuple[list[str], int]:
    """The ids to ask for (at most ``ASKED``, from ``start`` on, none excluded or chosen), and the
    index of the first of them (the number of accounts ranked if none)."""
    ids: list[str] = []
    first = index = start
    while (slot := ranked.at(index)) is not None:
        account_id = slot.account.id
        if account_id not in excluded and account_id not in chosen:
            if not ids:
                first = index
            ids.append(account_id)
            if len(ids) == ASKED:
                break
        index += 1
    if not ids:
        first = len(ranked.all())
    return ids, first


def on_probation(slot: Slot) -> bool:
    """Whether a lease on this account re-checks an invalid mark (banned, disabled, token rejected)."""
    return slot.health.invalid_reason is not None


def one_probe(ranked: list[Slot], probing: bool) -> list[Slot]:
    """``ranked`` with at most one account due for a re-check, and none while one is re-checked.

    Ten accounts banned overnight come due together; re-checking them all on the next ten requests
    would be a burst of calls on banned accounts, which DeepSeek reads as one operator's bots.
    """
    kept: list[Slot] = []
    for slot in ranked:
        if on_probation(slot):
            if probing:
                continue
            probing = True
        kept.append(slot)
    return kept


def why_hopeless(waiter: Waiter, candidates: list[Slot], now: float, budget: float) -> ServiceError | None:
    """An error if no candidate can serve this waiter within ``budget`` seconds, else None.

    For the server's own accounts that is a NoUsableAccountError at once, naming each account's
    reason and, as ``retry_after``, the soonest time one serves again by itself: a request never
    waits for accounts that are parked (muted, banned, throttled) beyond its wait budget.
    """
    if not candidates:
        if waiter.exclude:
            return CapacityError("no other account is left to try", retry_after=None)
        wanted = f"account {waiter.prefer!r}" if waiter.require else "accounts"
        return UpstreamError(f"no DeepSeek {wanted} available in this pool")
    callers = all(s.account.source == "caller" for s in candidates)
    # An invalid account counts only if its re-check falls within the budget.
    live = [s for s in candidates if not s.health.invalid_at(now + budget)]
    if not live:
        reasons = sorted({f"{s.account.id}: {s.health.invalid_reason}" for s in candidates})
        message = "every candidate account is invalid (" + "; ".join(reasons) + ")"
        if callers:
            return InvalidTokenError(message)  # the caller's own tokens: their problem (401)
        return _parked(candidates, now)
    if any(s.health.busy or s.health.elsewhere for s in live):
        return None  # a busy account may be released at any moment
    soonest = min(s.health.blocked_until() for s in live)
    if soonest - now > budget:
        if not callers:
            return _parked(candidates, now)
        return CapacityError(
            "every candidate account is muted or cooling down beyond the wait budget",
            retry_after=max(1.0, soonest - now),
        )
    return None


def _parked(candidates: list[Slot], now: float) -> NoUsableAccountError:
    """Every server account is parked: say why (by kind, no account ids) and when one may serve again."""
    kinds: dict[str, list[Parked]] = {}
    for slot in candidates:
        parked = slot.health.parked(now)
        kinds.setdefault(parked.kind, []).append(parked)
    reasons = []
    for kind, items in kinds.items():
        first = min(items, key=lambda item: item.seconds)
        reasons.append(f"{len(items)} {kind} ({'' if len(items) == 1 else 'the first '}{first.when()})")
    ends = [until for s in candidates if (until := s.health.blocked_until()) < math.inf]
    return NoUsableAccountError(
        f"none of this server's DeepSeek accounts can serve now: {', '.join(reasons)}",
        retry_after=max(1.0, min(ends) - now) if ends else None,
    )


def estimate_wait(
    candidates: list[Slot], now: float, *, hold_s: float, min_interval_s: float, queued: int
) -> float:
    """Seconds until a request would likely find one of ``candidates`` free; at least one."""
    live = [s for s in candidates if s.health.blocked_until() < math.inf]
    if not live:
        return max(1.0, hold_s)

    def free_in(health: AccountHealth) -> float:
        paused = health.blocked_until() - now
        if health.busy:
            left = max(0.0, hold_s - (now - health.leased_at))
            return max(left + min_interval_s, paused)
        if health.elsewhere:  # leased by another process: its hold time is unknown here
            return max(hold_s + min_interval_s, paused)
        return max(0.0, paused)

    soonest = min(free_in(s.health) for s in live)
    # Requests already queued go first, one generation each, spread over the accounts.
    return max(1.0, soonest + hold_s * (queued // len(live)))
