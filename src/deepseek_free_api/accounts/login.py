"""Logging an account in for a fresh token, and what a failed login says about the account."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..errors import ServiceError
from .account import Account
from .health import SHORT_BACKOFF_S, AccountHealth

LoginHook = Callable[[Account], Awaitable[str]]


async def log_in(
    account: Account, health: AccountHealth, login: LoginHook | None, clock: Callable[[], float]
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
        else:
            health.invalidate(f"login failed: {_scrub(exc, account)}")
    except Exception as exc:
        health.invalidate(f"login failed: {_scrub(exc, account)}")
    return None


def _scrub(exc: BaseException, account: Account) -> str:
    """A short description of a login failure with the account's secrets blanked out."""
    text = f"{type(exc).__name__}: {exc}"[:200]
    for secret in (account.password, account.token):
        if secret:
            text = text.replace(secret, "***")
    return text
