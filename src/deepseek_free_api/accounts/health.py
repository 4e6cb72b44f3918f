"""The state of one account and every transition it can make, in one small class.

All times are in the pool's clock (monotonic seconds), except a lease's ``acquired_at`` and
``expires_at``, which are wall-clock epoch seconds so that several processes sharing one store
agree on them. Keeping the transitions here, apart from the waiting logic in ``pool.py``, is what
lets a shared store (SQLite, Redis) replace the in-memory record later without touching the queue.

Besides the lease state (``AccountState``), each account has a health ``Condition``
(``accounts/condition.py``): what DeepSeek's last signal says of it, each change kept and logged.
What each upstream error does to the account is decided in ``accounts/faults.py``, and how a
parked account is described to a caller in ``accounts/parked.py``.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from .condition import PARKED, RECHECKED, TRANSITIONS_KEPT, Condition, Transition, iso, verdict
from .faults import apply_error
from .parked import Parked, why_parked

if TYPE_CHECKING:
    from ..errors import ServiceError

log = logging.getLogger(__name__)

# A revoked token or a failed login may be fixed upstream (unbanned, password reset): look again then.
INVALID_RECHECK_S = 600.0


class AccountState(StrEnum):
    """What an account is doing now, as shown by ``AccountPool.snapshot``."""

    FREE = "free"
    BUSY = "busy"
    PACING = "pacing"  # inside min_interval_s after its last generation
    QUOTA = "quota"  # its generations in the last hour reached pool.max_generations_per_hour
    COOLDOWN = "cooldown"
    MUTED = "muted"
    NEEDS_LOGIN = "needs_login"  # free, but a login runs before it is handed out
    INVALID = "invalid"  # unusable until its re-check time, reset() or a new token
    PROBATION = "probation"  # invalid, but due for a re-check: the next lease tries it


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """Who holds an account: the owner, the fence number and wall-clock (epoch) times."""

    owner: str
    fence: int
    acquired_at: float
    expires_at: float


# The fields an account's place in the lease order depends on: whether it is free (held, paused,
# parked) and how it ranks (``matching.rank``).
ORDERED_BY = frozenset(
    {
        "holder",
        "ready_at",
        "idle_since",
        "quota_until",
        "cooldown_until",
        "muted_until",
        "invalid_reason",
        "invalid_until",
        "elsewhere",
        "last_lease_seq",
    }
)


@dataclass
class AccountHealth:
    """Lease and error state of one account."""

    holder: LeaseRecord | None = None
    leased_at: float = 0.0  # pool clock, for hold-time estimates
    ready_at: float = 0.0  # end of the min-interval pause after the last lease
    idle_since: float = 0.0  # when the last lease here ended: the longest idle is leased first
    quota_until: float = 0.0  # its generations in the last hour reached pool.max_generations_per_hour
    cooldown_until: float = 0.0
    muted_until: float = 0.0
    invalid_reason: str | None = None
    invalid_until: float = 0.0  # when an invalid mark is re-checked; inf = only by reset or new token
    needs_login: bool = False
    # The store refused it: another process leases it (until that one releases, as far as we know).
    elsewhere: bool = False
    last_lease_seq: int = 0  # the last fence handed out; lower = used longer ago (least-recently-used)
    leases: int = 0
    successes: int = 0
    errors: int = 0
    last_error: str | None = None
    label: str = ""  # the account's id, for the one log line of each transition
    condition: Condition = Condition.HEALTHY
    transitions: deque[Transition] = field(default_factory=lambda: deque(maxlen=TRANSITIONS_KEPT))
    throttle_streak: int = 0  # throttles in a row, for the backoff
    # Told when a field in ``ORDERED_BY`` changes: the pool's order of free accounts (``accounts.ready``).
    on_change: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    def __setattr__(self, name: str, value: object) -> None:
        # One place sees every change the lease order depends on, wherever it is made: an order
        # kept by calls at each change would miss the next one added, and offer an account late.
        if name in ORDERED_BY and self.on_change is not None and getattr(self, name) != value:
            object.__setattr__(self, name, value)
            self.on_change()
        else:
            object.__setattr__(self, name, value)

    @property
    def last_transition(self) -> Transition | None:
        """The newest change of condition (its reason and time), if any."""
        return self.transitions[-1] if self.transitions else None

    def parked(self, now: float) -> Parked:
        """Why the account cannot serve at pool time ``now`` and for how long, in words for a caller."""
        return why_parked(self, now)

    def move_to(
        self, condition: Condition, reason: str, *, wall_now: float, until: float | None = None
    ) -> None:
        """Record (and log once) a change of condition; the same condition again only refreshes it."""
        last = self.last_transition
        if last is not None and last.condition is condition and last.until == until and last.reason == reason:
            return
        previous, self.condition = self.condition, condition
        self.transitions.append(Transition(wall_now, condition, reason[:300], until))
        ends = f" until {iso(until)}" if until is not None and math.isfinite(until) else ""
        level = logging.WARNING if condition in PARKED else logging.INFO
        log.log(level, "account %s: %s -> %s%s: %s", _shown(self.label), previous, condition, ends, reason)

    @property
    def busy(self) -> bool:
        """Whether a lease holds the account."""
        return self.holder is not None

    def blocked_until(self) -> float:
        """When pacing, quota, cooldown, mute and an invalid mark have all ended (inf: not by itself)."""
        until = max(self.ready_at, self.quota_until, self.cooldown_until, self.muted_until)
        return until if self.invalid_reason is None else max(until, self.invalid_until)

    def invalid_at(self, when: float) -> bool:
        """Whether an invalid mark still keeps the account out at pool time ``when``."""
        return self.invalid_reason is not None and self.invalid_until > when

    def usable(self, now: float) -> bool:
        """Whether a lease could start now (an invalid account due for a re-check counts)."""
        return not self.busy and self.blocked_until() <= now

    def state(self, now: float) -> tuple[AccountState, float | None]:
        """The visible state and, for timed states, when it ends."""
        if self.busy:
            return AccountState.BUSY, None
        if self.invalid_at(now):
            return AccountState.INVALID, None if math.isinf(self.invalid_until) else self.invalid_until
        if self.muted_until > now:
            return AccountState.MUTED, self.muted_until
        if self.cooldown_until > now:
            return AccountState.COOLDOWN, self.cooldown_until
        if self.quota_until > now:
            return AccountState.QUOTA, self.quota_until
        if self.ready_at > now:
            return AccountState.PACING, self.ready_at
        if self.invalid_reason is not None:
            return AccountState.PROBATION, None
        if self.needs_login:
            return AccountState.NEEDS_LOGIN, None
        return AccountState.FREE, None

    def begin(self, now: float, record: LeaseRecord) -> None:
        """A lease starts."""
        self.holder = record
        self.leased_at = now
        self.last_lease_seq = record.fence
        self.leases += 1

    def extend(self, expires_at: float) -> None:
        """The holder is still at work: move its lease's expiry."""
        if self.holder is not None:
            holder = self.holder
            self.holder = LeaseRecord(holder.owner, holder.fence, holder.acquired_at, expires_at)

    def end(self, now: float, min_interval_s: float) -> float:
        """A lease ends; returns how long it was held."""
        self.holder = None
        self.idle_since = now
        if not self.needs_login:  # a rejected token generated nothing: no pause before logging in again
            self.ready_at = max(self.ready_at, now + min_interval_s)
        return now - self.leased_at

    def abandon(self) -> None:
        """A lease was handed out but never used (its waiter went away first)."""
        self.holder = None
        self.leases -= 1

    def succeed(self, wall_now: float | None = None) -> None:
        """A generation on this account worked: an invalid mark on probation is cleared."""
        self.successes += 1
        self.invalid_reason = None
        self.invalid_until = 0.0
        self.throttle_streak = 0
        if self.condition is not Condition.HEALTHY:
            self.move_to(Condition.HEALTHY, "a generation worked", wall_now=_wall(wall_now))

    def recheck_passed(self, reason: str, *, wall_now: float | None = None) -> bool:
        """A re-check (the canary) found the account working: its invalid mark ends, if one may.

        Only a mark that has a re-check time ends this way (what a probation lease would prove);
        one kept until the operator acts stays. Mutes and cooldowns keep their own end.
        """
        if self.invalid_reason is not None and math.isinf(self.invalid_until):
            return False
        changed = self.invalid_reason is not None
        self.invalid_reason = None
        self.invalid_until = 0.0
        if self.condition in RECHECKED:
            self.move_to(Condition.HEALTHY, reason, wall_now=_wall(wall_now))
            changed = True
        return changed

    def cool_down(self, now: float, seconds: float) -> None:
        """Keep the account out of rotation for ``seconds``."""
        self.cooldown_until = max(self.cooldown_until, now + max(0.0, seconds))

    def mute(self, now: float, seconds: float) -> None:
        """DeepSeek muted the account for ``seconds``."""
        self.muted_until = max(self.muted_until, now + max(0.0, seconds))

    def invalidate(self, reason: str, *, recheck_at: float = math.inf) -> None:
        """Take the account out until ``recheck_at`` (then one lease tries it), a reset or a new token."""
        self.invalid_reason = reason
        self.invalid_until = recheck_at

    def token_changed(self, wall_now: float | None = None) -> None:
        """A new token arrived (login or update): give the account a fresh chance (a mute stays)."""
        self.invalid_reason = None
        self.invalid_until = 0.0
        self.needs_login = False
        if self.condition in (
            Condition.INVALID_TOKEN,
            Condition.LOGIN_FAILED,
            Condition.BANNED,
            Condition.DISABLED,
        ):
            self.move_to(Condition.HEALTHY, "a new token (logged in or updated)", wall_now=_wall(wall_now))

    def reset(self, wall_now: float | None = None) -> None:
        """Forget cooldown, mute and invalidity (an operator's decision)."""
        self.cooldown_until = self.muted_until = self.invalid_until = 0.0
        self.invalid_reason = None
        self.throttle_streak = 0
        if self.condition is not Condition.HEALTHY:
            self.move_to(Condition.HEALTHY, "re-enabled by the operator", wall_now=_wall(wall_now))

    def login_failed(
        self, error: BaseException, reason: str, *, now: float, wall_now: float, recheck_at: float
    ) -> None:
        """A login failed for good (wrong password, banned, disabled): out until ``recheck_at``."""
        self.invalidate(f"login failed: {reason}", recheck_at=recheck_at)
        until = wall_now + (recheck_at - now)
        self.move_to(verdict(error, Condition.LOGIN_FAILED), reason, wall_now=wall_now, until=until)

    def unreachable(self, reason: str, *, wall_now: float) -> None:
        """DeepSeek could not be reached for this account: noted, nothing parked (requests fail fast)."""
        self.move_to(Condition.UNREACHABLE, reason, wall_now=wall_now)

    def record_error(
        self, error: ServiceError, *, now: float, wall_now: float, can_login: bool, recheck_at: float
    ) -> None:
        """Apply what an upstream error says about the account (the rules are in ``accounts.faults``)."""
        apply_error(self, error, now=now, wall_now=wall_now, can_login=can_login, recheck_at=recheck_at)


def _shown(label: str) -> str:
    """An account id for the log: derived ids (``acct-`` + a hash of the token or login) end masked."""
    return "…" + label[-4:] if label.startswith("acct-") else label or "?"


def _wall(wall_now: float | None) -> float:
    return time.time() if wall_now is None else wall_now
