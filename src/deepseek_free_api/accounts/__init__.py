"""DeepSeek accounts: identities, health states and the pool that leases them one generation at a time."""

from __future__ import annotations

from .account import Account, AccountSource, token_account_id
from .faults import is_account_fault
from .health import AccountHealth, AccountState, LeaseRecord
from .lease import AccountStatus, Lease
from .login import LoginHook
from .pool import AccountPool, OrphanHook
from .records import account_from_config
from .registry import AccountListener

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
    "LoginHook",
    "OrphanHook",
    "account_from_config",
    "is_account_fault",
    "token_account_id",
]
