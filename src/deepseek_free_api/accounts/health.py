"""The state of one account and every transition it can make, in one small class.

All times are in the pool's clock (monotonic seconds). Keeping the transitions here, apart from
the waiting logic in ``pool.py``, is what lets a shared store (SQLite, Redis) replace the
in-memory record later without touching the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
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


class AccountState(StrEnum):
    """What an account is doing now, as shown by ``AccountPool.snapshot``."""

    FREE = "free"
    BUSY = "busy"
    PACING = "pacing"  # inside min_interval_s after its last generation
    COOLDOWN = "cooldown"
    MUTED = "muted"
    NEEDS_LOGIN = "needs_login"  # free, but a login runs before it is handed out
    INVALID = "invalid"  # unusable until reset() or update_token()


@dataclass
class AccountHealth:
    """Lease and error state of one account."""

    busy: bool = False
    leased_at: float = 0.0
    ready_at: float = 0.0  # end of the min-interval pause after the last lease
    cooldown_until: float = 0.0
    muted_until: float = 0.0
    invalid_reason: str | None = None
    needs_login: bool = False
    last_lease_seq: int = 0  # lower = used longer ago; drives least-recently-used choice
    leases: int = 0
    successes: int = 0
    errors: int = 0
    last_error: str | None = None

    def blocked_until(self) -> float:
        """When pacing, cooldown and mute have all ended."""
        return max(self.ready_at, self.cooldown_until, self.muted_until)

    def usable(self, now: float) -> bool:
        """Whether a lease could start now."""
        return not self.busy and self.invalid_reason is None and self.blocked_until() <= now

    def state(self, now: float) -> tuple[AccountState, float | None]:
        """The visible state and, for timed states, when it ends."""
        if self.busy:
            return AccountState.BUSY, None
        if self.invalid_reason is not None:
            return AccountState.INVALID, None
        if self.muted_until > now:
            return AccountState.MUTED, self.muted_until
        if self.cooldown_until > now:
            return AccountState.COOLDOWN, self.cooldown_until
        if self.ready_at > now:
            return AccountState.PACING, self.ready_at
        if self.needs_login:
            return AccountState.NEEDS_LOGIN, None
        return AccountState.FREE, None

    def begin(self, now: float, seq: int) -> None:
        """A lease starts."""
        self.busy = True
        self.leased_at = now
        self.last_lease_seq = seq
        self.leases += 1

    def end(self, now: float, min_interval_s: float) -> float:
        """A lease ends; returns how long it was held."""
        self.busy = False
        self.ready_at = max(self.ready_at, now + min_interval_s)
        return now - self.leased_at

    def abandon(self) -> None:
        """A lease was handed out but never used (its waiter went away first)."""
        self.busy = False
        self.leases -= 1

    def succeed(self) -> None:
        """A generation on this account worked."""
        self.successes += 1

    def cool_down(self, now: float, seconds: float) -> None:
        """Keep the account out of rotation for ``seconds``."""
        self.cooldown_until = max(self.cooldown_until, now + max(0.0, seconds))

    def mute(self, now: float, seconds: float) -> None:
        """DeepSeek muted the account for ``seconds``."""
        self.muted_until = max(self.muted_until, now + max(0.0, seconds))

    def invalidate(self, reason: str) -> None:
        """Take the account out until reset."""
        self.invalid_reason = reason

    def token_changed(self) -> None:
        """A new token arrived (login or update): give the account a fresh chance."""
        self.invalid_reason = None
        self.needs_login = False

    def reset(self) -> None:
        """Forget cooldown, mute and invalidity (an operator's decision)."""
        self.cooldown_until = self.muted_until = 0.0
        self.invalid_reason = None

    def record_error(self, error: ServiceError, *, now: float, wall_now: float, can_login: bool) -> None:
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
                self.invalidate("token rejected by DeepSeek")
        elif isinstance(error, AccountBannedError):
            self.cool_down(now, BANNED_COOLDOWN_S)
        elif isinstance(error, InvalidPowError | InvalidSessionError):
            pass  # a stale PoW answer or session is the request's problem, not the account's
        elif error.retryable:
            self.cool_down(now, SHORT_BACKOFF_S if error.retry_after is None else error.retry_after)
        # Anything else (content filter, bad request, WAF, client version) says nothing about
        # this account, so it stays in rotation.
