"""What an upstream error says about the account that served it: the rules from error to health.

``AccountHealth.record_error`` applies these rules (PROTOCOL.md §2.4, §2.7): a mute parks the account
until its end, a throttle rests it (doubling per throttle in a row), a busy account or a retryable
failure cools down briefly, a rejected token sends a login account to log in again and parks any
other, a ban or disable parks it until a re-check. Errors that are the request's problem (a stale
proof of work or session, a content filter, a bad request) leave the account as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import (
    AccountBannedError,
    AccountBusyError,
    InvalidPowError,
    InvalidSessionError,
    InvalidTokenError,
    MutedError,
    ServiceError,
    ThrottledError,
    UpstreamUnreachableError,
)
from .condition import Condition, verdict

if TYPE_CHECKING:
    from .health import AccountHealth

# "too frequent" means back off at least 20 s (PROTOCOL.md §2.4, seen 2026-03); each throttle in a
# row doubles it, up to this: an account that keeps being throttled rests, it is never disabled.
THROTTLE_COOLDOWN_S = 20.0
THROTTLE_MAX_S = 600.0
# "A message is being generated": not a ban, retry after ~5 s (PROTOCOL.md §2.6, measured 2026-09).
BUSY_COOLDOWN_S = 5.0
# A mute whose end neither the signal nor users/current told: wait long enough not to hammer it.
DEFAULT_MUTE_S = 600.0
# Other retryable failures (5xx, timeouts, empty answers, failed logins that may pass later).
SHORT_BACKOFF_S = 2.0

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


def apply_error(
    health: AccountHealth,
    error: ServiceError,
    *,
    now: float,
    wall_now: float,
    can_login: bool,
    recheck_at: float,
) -> None:
    """Apply what an upstream error says about the account to its ``health`` (see the module docstring)."""
    health.errors += 1
    health.last_error = type(error).__name__
    reason = error.message
    if isinstance(error, UpstreamUnreachableError):
        health.unreachable(reason, wall_now=wall_now)  # the network's fault: the account stays in
    elif isinstance(error, MutedError):
        until = wall_now + DEFAULT_MUTE_S if error.mute_until is None else error.mute_until
        health.mute(now, until - wall_now)
        health.move_to(Condition.MUTED, reason, wall_now=wall_now, until=until)
    elif isinstance(error, ThrottledError):
        health.throttle_streak += 1
        base = THROTTLE_COOLDOWN_S if error.retry_after is None else error.retry_after
        seconds = min(THROTTLE_MAX_S, base * 2 ** min(health.throttle_streak - 1, 16))
        health.cool_down(now, seconds)
        note = f"{reason}; resting {seconds:.0f} s (throttle {health.throttle_streak} in a row)"
        health.move_to(Condition.THROTTLED, note, wall_now=wall_now, until=wall_now + seconds)
    elif isinstance(error, AccountBusyError):
        health.cool_down(now, BUSY_COOLDOWN_S if error.retry_after is None else error.retry_after)
    elif isinstance(error, InvalidTokenError):
        if can_login:
            health.needs_login = True
            health.move_to(Condition.INVALID_TOKEN, f"{reason}; logging in again", wall_now=wall_now)
        else:
            health.invalidate("token rejected by DeepSeek", recheck_at=recheck_at)
            until = wall_now + (recheck_at - now)
            health.move_to(Condition.INVALID_TOKEN, reason, wall_now=wall_now, until=until)
    elif isinstance(error, AccountBannedError):  # banned or disabled: parked, re-checked later
        kind = verdict(error, Condition.BANNED)
        health.invalidate(f"{kind.value} by DeepSeek", recheck_at=recheck_at)
        health.move_to(kind, reason, wall_now=wall_now, until=wall_now + (recheck_at - now))
    elif isinstance(error, InvalidPowError | InvalidSessionError):
        pass  # a stale PoW answer or session is the request's problem, not the account's
    elif error.retryable:
        health.cool_down(now, SHORT_BACKOFF_S if error.retry_after is None else error.retry_after)
    # Anything else (content filter, bad request, WAF, client version) says nothing about
    # this account, so it stays in rotation.
    if health.invalid_reason is not None and health.invalid_until <= now and is_account_fault(error):
        health.invalid_until = recheck_at  # the probation lease failed too: look again later
