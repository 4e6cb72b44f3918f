"""Logging an account in for a fresh token, and what a failed login says about the account."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from ..errors import ServiceError
from .account import Account
from .health import SHORT_BACKOFF_S, AccountHealth

LoginHook = Callable[[Account], Awaitable[str]]

log = logging.getLogger(__name__)


def masked(value: str) -> str:
    """``value`` for a log line: its last four characters at most, and none of a short value."""
    return "…" + value[-4:] if len(value) >= 12 else "…"


async def log_in(
    account: Account,
    health: AccountHealth,
    login: LoginHook | None,
    clock: Callable[[], float],
    *,
    recheck_s: float,
) -> str | None:
    """A fresh token from ``login``; ``None`` once ``health`` records why there is none."""
    if login is None:
        health.invalidate("needs a login but the pool has no login hook")
        return None
    try:
        return await login(account)
    except ServiceError as exc:
        if exc.retryable:  # a network or server hiccup may pass; wrong credentials will not
            health.cool_down(clock(), SHORT_BACKOFF_S)
            _warn(account, exc, f"retrying in {SHORT_BACKOFF_S:.0f} s")
            return None
        failure: Exception = exc
    except Exception as exc:
        failure = exc
    health.invalidate(f"login failed: {_scrub(failure, account)}", recheck_at=clock() + recheck_s)
    _warn(account, failure, f"re-checked in {recheck_s:.0f} s")
    return None


def _warn(account: Account, exc: Exception, then: str) -> None:
    log.warning("login of account %s failed (%s); %s", masked(account.id), _scrub(exc, account), then)


def _scrub(exc: BaseException, account: Account) -> str:
    """A short description of a login failure with the account's secrets and identifiers blanked out."""
    text = f"{type(exc).__name__}: {exc}"[:200]
    for secret in (account.password, account.token, account.email, account.mobile):
        if secret:
            text = text.replace(secret, "***")
    return text
