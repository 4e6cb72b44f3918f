"""Whether the server can serve a chat now, and if not, why, from the pool's account states.

Ready means at least one of the server's own accounts can take a generation now or after the
ones in progress (free, busy, pacing, about to log in or due for a re-check). Accounts that
DeepSeek or the pool parked (invalid, cooling down, muted, at their hourly quota) cannot, and each
says why and until when. A server without accounts of its own is ready while callers may bring
their own tokens.
``health`` lists, ready or not, every server account whose condition is not ``healthy``
(throttled, muted, banned, disabled, invalid token, login failed, unreachable), with the reason
and time of its last change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from deepseek_free_api.accounts import AccountState, AccountStatus

PARKED = frozenset({AccountState.INVALID, AccountState.COOLDOWN, AccountState.MUTED, AccountState.QUOTA})


def readiness(accounts: Sequence[AccountStatus], *, caller_tokens: bool) -> tuple[bool, dict[str, Any]]:
    """``(ready, body)`` for ``GET /readyz``; ``caller_tokens``: callers may send their own tokens."""
    server = [account for account in accounts if account.source == "server"]
    states = dict(Counter(account.state.value for account in server))
    if not server:
        if caller_tokens:
            note = "no server accounts: callers send their own DeepSeek tokens"
            return True, {"ready": True, "accounts": {}, "note": note}
        reason = {
            "reason": "no_accounts",
            "message": "no DeepSeek accounts are configured, and callers may not send their own tokens",
        }
        return False, {"ready": False, "accounts": {}, "reasons": [reason]}
    health = [_condition(account) for account in server if account.condition != "healthy"]
    extra = {"health": health} if health else {}
    if any(account.state not in PARKED for account in server):
        return True, {"ready": True, "accounts": states, **extra}
    reasons = [_why(account) for account in server]
    return False, {"ready": False, "accounts": states, "reasons": reasons, **extra}


def _condition(account: AccountStatus) -> dict[str, Any]:
    since, until = account.condition_since, account.condition_until
    return {
        "account": account.id,
        "condition": account.condition,
        "reason": account.condition_reason,
        "since": None if since is None else _iso(since),
        "until": None if until is None or until == float("inf") else _iso(until),
    }


def _why(account: AccountStatus) -> dict[str, Any]:
    until = None if account.until is None else _iso(account.until)
    if account.state is AccountState.INVALID:
        again = f"re-checked after {until}" if until else "until re-enabled or given a new token"
        message = f"invalid ({account.reason or account.last_error or 'rejected'}); {again}"
    elif account.state is AccountState.MUTED:
        message = f"muted by DeepSeek until {until}"
    elif account.state is AccountState.QUOTA:
        message = f"at its hourly quota (pool.max_generations_per_hour) until {until}"
    else:
        message = f"cooling down until {until} after {account.last_error or 'an error'}"
    return {"account": account.id, "state": account.state.value, "until": until, "message": message}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
