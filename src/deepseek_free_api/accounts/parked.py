"""Why an account is out of rotation and for how long, in words for a caller.

A request that finds every server account parked is told, by kind and without account ids or
DeepSeek's own text, why none can serve and when the first may again (``matching``); the operator
finds the details in the log. The words are chosen here from the account's health, in one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .condition import Condition

if TYPE_CHECKING:
    from .health import AccountHealth

# Why an account at its hourly quota is out, in words for a caller.
QUOTA_KIND = "at the hourly quota of pool.max_generations_per_hour"
# What a caller is told of an account an invalid mark keeps out, by the condition behind the mark.
_INVALID_KINDS = {
    Condition.BANNED: "banned by DeepSeek",
    Condition.DISABLED: "disabled by DeepSeek",
    Condition.INVALID_TOKEN: "with a token DeepSeek rejected",
    Condition.LOGIN_FAILED: "failing to log in",
}


@dataclass(frozen=True, slots=True)
class Parked:
    """Why an account is out of rotation, and for how many seconds (inf: until an operator acts)."""

    kind: str
    seconds: float
    recheck: bool = False  # the time is a re-check, not a sure end

    def when(self) -> str:
        """``for another 590 s``, ``re-checked in 600 s`` or ``until the operator re-enables them``."""
        if math.isinf(self.seconds):
            return "until the operator re-enables them"
        return f"{'re-checked in' if self.recheck else 'for another'} {self.seconds:.0f} s"


def why_parked(health: AccountHealth, now: float) -> Parked:
    """Why the account with ``health`` cannot serve at pool time ``now``, and for how long."""
    if health.invalid_at(now):
        kind = _INVALID_KINDS.get(health.condition, "invalid")
        return Parked(kind, health.invalid_until - now, recheck=True)
    if health.muted_until > now:
        return Parked("muted by DeepSeek", health.muted_until - now)
    if health.cooldown_until > now:
        throttled = health.condition is Condition.THROTTLED
        kind = "throttled by DeepSeek" if throttled else "cooling down after an error"
        return Parked(kind, health.cooldown_until - now)
    if health.quota_until > now:
        return Parked(QUOTA_KIND, health.quota_until - now)
    return Parked("pausing between generations", max(0.0, health.ready_at - now))
