"""DeepSeek accounts: identities, health states and the pool that leases them one generation at a time."""

from __future__ import annotations

from .account import Account, AccountSource, token_account_id
from .health import AccountHealth, AccountState, LeaseRecord, is_account_fault
from .lease import AccountStatus, Lease
from .login import LoginHook
from .pool import AccountPool
from .store import AccountListener, LeaseStore

__all__ = [
    "Account",
    "AccountHealth",
    "AccountListener",
    "AccountPool",
    "AccountSource",
    "AccountState",
    "AccountStatus",
    "Lease",
    "LeaseRecord",
    "LeaseStore",
    "LoginHook",
    "is_account_fault",
    "token_account_id",
]
