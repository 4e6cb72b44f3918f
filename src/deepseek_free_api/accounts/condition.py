"""An account's health condition: what DeepSeek's signals say of it (PROTOCOL.md §2.7).

Besides the lease state (``AccountState``: free, busy, cooling down…), each account has a
``Condition``, with every change kept as a ``Transition`` (when, why, until when) and logged once::

    healthy --throttle--> throttled (cooldown 20 s, doubling per throttle in a row up to 10 min;
                                     never a disable) --a generation works--> healthy
    healthy --biz_code 5 / 50006--> muted (until mute_until: the signal's or users/current's)
    healthy --40012 / login biz_code 10--> banned --.
    healthy --90008--> disabled -------------------+-> parked until the operator re-enables it,
                                                     a new token, or a re-check that works
    healthy --40003--> invalid_token (a login account logs in again at once)
    login fails -> login_failed (re-checked later); DeepSeek unreachable -> unreachable (the
    account stays in rotation: the request fails fast, nothing is parked)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from ..errors import AccountBannedError, AccountDisabledError

# Transitions kept per account (the newest last): enough to see a pattern, bounded memory.
TRANSITIONS_KEPT = 16


class Condition(StrEnum):
    """What DeepSeek's signals say of an account (see the module docstring)."""

    HEALTHY = "healthy"
    THROTTLED = "throttled"
    MUTED = "muted"
    BANNED = "banned"
    DISABLED = "disabled"
    INVALID_TOKEN = "invalid_token"
    LOGIN_FAILED = "login_failed"
    UNREACHABLE = "unreachable"


# Conditions that take an account out of rotation until a time, an operator or a re-check.
PARKED = frozenset({Condition.MUTED, Condition.BANNED, Condition.DISABLED, Condition.LOGIN_FAILED})
# Conditions a working re-check ends (a mute ends at its time, a throttle after its cooldown).
RECHECKED = frozenset(
    {
        Condition.BANNED,
        Condition.DISABLED,
        Condition.LOGIN_FAILED,
        Condition.INVALID_TOKEN,
        Condition.UNREACHABLE,
    }
)


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of an account's condition: when (epoch seconds), why, and until when if it ends."""

    at: float
    condition: Condition
    reason: str
    until: float | None = None


def verdict(error: BaseException, otherwise: Condition) -> Condition:
    """The condition a ban-like error means: disabled (90008), banned, or ``otherwise``."""
    if isinstance(error, AccountDisabledError):
        return Condition.DISABLED
    if isinstance(error, AccountBannedError):
        return Condition.BANNED
    return otherwise


def iso(epoch: float) -> str:
    """Epoch seconds as ``2026-09-11 08:00:00 UTC`` (log lines, messages)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
