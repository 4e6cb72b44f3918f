"""Logging an account in for a fresh token, and what a failed login says about the account."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from ..errors import ServiceError, UpstreamUnreachableError
from .account import Account
from .faults import SHORT_BACKOFF_S
from .health import AccountHealth

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
    wall_clock: Callable[[], float] = time.time,
) -> str | None:
    """A fresh token from ``login``; ``None`` once ``health`` records why there is none.

    Raises UpstreamUnreachableError when DeepSeek cannot be reached at all.
    """
    if login is None:
        health.invalidate("needs a login but the pool has no login hook")
        return None
    try:
        return await login(account)
    except UpstreamUnreachableError as exc:
        # The network, not the account: the request that needed this login fails now, naming the
        # cause, rather than waiting out the budget in login retries (and nothing is parked).
        health.unreachable(_scrub(exc, account), wall_now=wall_clock())
        raise
    except ServiceError as exc:
        if exc.retryable:  # a server hiccup may pass; wrong credentials will not
            health.cool_down(clock(), SHORT_BACKOFF_S)
            _warn(account, exc, f"retrying in {SHORT_BACKOFF_S:.0f} s")
            return None
        failure: Exception = exc
    except Exception as exc:
        failure = exc
    now = clock()
    # The health machine logs the transition (one line, with the re-check time).
    health.login_failed(
        failure, _scrub(failure, account), now=now, wall_now=wall_clock(), recheck_at=now + recheck_s
    )
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
