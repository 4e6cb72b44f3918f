"""State that outlives a request, behind one seam: ``protocols`` and a backend chosen by ``store.url``."""

from __future__ import annotations

from .bundle import StoreLocation, Stores, open_stores, parse_store_url
from .protocols import (
    AccountRecord,
    AccountStore,
    ConversationStore,
    KeyExistsError,
    KeyLimits,
    KeyStore,
    Lease,
    LeaseSlot,
    LeaseStore,
    Orphan,
    RateStore,
    ResponseLimits,
    ResponseStore,
    ServiceKey,
    StoredResponse,
    StoreError,
    StoreOptions,
    UsageRow,
    UsageStore,
    UsageTotals,
)

__all__ = [
    "AccountRecord",
    "AccountStore",
    "ConversationStore",
    "KeyExistsError",
    "KeyLimits",
    "KeyStore",
    "Lease",
    "LeaseSlot",
    "LeaseStore",
    "Orphan",
    "RateStore",
    "ResponseLimits",
    "ResponseStore",
    "ServiceKey",
    "StoreError",
    "StoreLocation",
    "StoreOptions",
    "Stores",
    "StoredResponse",
    "UsageRow",
    "UsageStore",
    "UsageTotals",
    "open_stores",
    "parse_store_url",
]
