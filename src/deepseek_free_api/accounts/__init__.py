"""DeepSeek accounts: identities, health states and the pool that leases them one generation at a time."""

from __future__ import annotations

from .account import Account, AccountSource, token_account_id
from .health import AccountHealth, AccountState
from .lease import AccountStatus, Lease
from .login import LoginHook
from .pool import AccountPool

__all__ = [
    "Account",
    "AccountHealth",
    "AccountPool",
    "AccountSource",
    "AccountState",
    "AccountStatus",
    "Lease",
    "LoginHook",
    "token_account_id",
]
