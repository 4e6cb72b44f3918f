"""The state of one account and every transition it can make, in one small class.

All times are in the pool's clock (monotonic seconds), except a lease's ``acquired_at`` and
``expires_at``, which are wall-clock epoch seconds so that several processes sharing one store
agree on them. Keeping the transitions here, apart from the waiting logic in ``pool.py``, is what
lets a shared store (SQLite, Redis) replace the in-memory record later without touching the queue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

from ..errors import (
    AccountBannedError,
    AccountBusyError,
    InvalidPowError,
    InvalidSessionError,
    InvalidTokenError,
    MutedError,
    ServiceError,
    ThrottledError,
)

# "too frequent" means back off at least 20 s (PROTOCOL.md §2.4, seen 2026-03).
THROTTLE_COOLDOWN_S = 20.0
# "A message is being generated": not a ban, retry after ~5 s (PROTOCOL.md §2.6, measured 2026-09).
BUSY_COOLDOWN_S = 5.0
# biz_code 5 without a usable mute_until: wait long enough not to hammer a muted account.
DEFAULT_MUTE_S = 600.0
# No biz_data from chat_session/create: account or IP banned (PROTOCOL.md §2.4, 2024-11).
BANNED_COOLDOWN_S = 600.0
# Other retryable failures (5xx, timeouts, empty answers, failed logins that may pass later).
SHORT_BACKOFF_S = 2.0
# A revoked token or a failed login may be fixed upstream (unbanned, password reset): look again then.
INVALID_RECHECK_S = 600.0

# Errors that say something is wrong with the account that served the request, so another account
# may well succeed: the failover loop moves on (or, for a login account, logs in again).
ACCOUNT_FAULTS: tuple[type[ServiceError], ...] = (
    InvalidTokenError,
    AccountBannedError,
    MutedError,
    ThrottledError,
    AccountBusyError,
)


def is_account_fault(error: BaseException) -> bool:
    """Whether ``error`` is the account's fault (revoked, banned, muted, throttled, busy), not the request's.

    Failed logins never reach a caller as an error of their own: the pool marks the account
    invalid and hands out another one. For accounts made from a caller's token, an
    InvalidTokenError is the caller's problem once no other of its tokens is left.
    """
    return isinstance(error, ACCOUNT_FAULTS)


class AccountState(StrEnum):
    """What an account is doing now, as shown by ``AccountPool.snapshot``."""

    FREE = "free"
    BUSY = "busy"
    PACING = "pacing"  # inside min_interval_s after its last generation
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


@dataclass
class AccountHealth:
    """Lease and error state of one account."""

    holder: LeaseRecord | None = None
    leased_at: float = 0.0  # pool clock, for hold-time estimates
    ready_at: float = 0.0  # end of the min-interval pause after the last lease
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

    @property
    def busy(self) -> bool:
        """Whether a lease holds the account."""
        return self.holder is not None

    def blocked_until(self) -> float:
        """When pacing, cooldown, mute and an invalid mark have all ended (inf: not by itself)."""
        until = max(self.ready_at, self.cooldown_until, self.muted_until)
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
            self.holder = replace(self.holder, expires_at=expires_at)

    def end(self, now: float, min_interval_s: float) -> float:
        """A lease ends; returns how long it was held."""
        self.holder = None
        if not self.needs_login:  # a rejected token generated nothing: no pause before logging in again
            self.ready_at = max(self.ready_at, now + min_interval_s)
        return now - self.leased_at

    def abandon(self) -> None:
        """A lease was handed out but never used (its waiter went away first)."""
        self.holder = None
        self.leases -= 1

    def succeed(self) -> None:
        """A generation on this account worked: an invalid mark on probation is cleared."""
        self.successes += 1
        self.invalid_reason = None
        self.invalid_until = 0.0

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

    def token_changed(self) -> None:
        """A new token arrived (login or update): give the account a fresh chance."""
        self.invalid_reason = None
        self.invalid_until = 0.0
        self.needs_login = False

    def reset(self) -> None:
        """Forget cooldown, mute and invalidity (an operator's decision)."""
        self.cooldown_until = self.muted_until = self.invalid_until = 0.0
        self.invalid_reason = None

    def record_error(
        self, error: ServiceError, *, now: float, wall_now: float, can_login: bool, recheck_at: float
    ) -> None:
        """Apply what an upstream error says about the account (PROTOCOL.md §2.4)."""
        self.errors += 1
        self.last_error = type(error).__name__
        if isinstance(error, MutedError):
            seconds = DEFAULT_MUTE_S if error.mute_until is None else error.mute_until - wall_now
            self.mute(now, seconds)
        elif isinstance(error, ThrottledError):
            self.cool_down(now, THROTTLE_COOLDOWN_S if error.retry_after is None else error.retry_after)
        elif isinstance(error, AccountBusyError):
            self.cool_down(now, BUSY_COOLDOWN_S if error.retry_after is None else error.retry_after)
        elif isinstance(error, InvalidTokenError):
            if can_login:
                self.needs_login = True
            else:
                self.invalidate("token rejected by DeepSeek", recheck_at=recheck_at)
        elif isinstance(error, AccountBannedError):
            self.cool_down(now, BANNED_COOLDOWN_S)
        elif isinstance(error, InvalidPowError | InvalidSessionError):
            pass  # a stale PoW answer or session is the request's problem, not the account's
        elif error.retryable:
            self.cool_down(now, SHORT_BACKOFF_S if error.retry_after is None else error.retry_after)
        # Anything else (content filter, bad request, WAF, client version) says nothing about
        # this account, so it stays in rotation.
        if self.invalid_reason is not None and self.invalid_until <= now and is_account_fault(error):
            self.invalid_until = recheck_at  # the probation lease failed too: look again later
