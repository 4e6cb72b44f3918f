"""Records to JSON and back, the same way in every backend that keeps them as text.

A turn writes its account's record once and reads it once (``accounts.shared.write_record``), so
both ways are on every turn's path: orjson serializes the dataclasses itself (fields in their
declared order, tuples as lists: the bytes ``dataclasses.asdict`` gave, at a tenth of its cost),
and a record whose keys are all known is built without filtering them.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import orjson

from .protocols import AccountRecord, KeyLimits, ServiceKey


def dump(record: AccountRecord | ServiceKey) -> bytes:
    """The record as JSON (tuples become lists)."""
    return orjson.dumps(record)


def _names(cls: type[Any]) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls))


_NAMES = {cls: _names(cls) for cls in (AccountRecord, KeyLimits, ServiceKey)}


def _known(cls: type[Any], data: dict[str, Any]) -> dict[str, Any]:
    # A record written by a newer version may carry fields this one does not know: skip them.
    names = _NAMES[cls]
    if names.issuperset(data):
        return data
    return {k: v for k, v in data.items() if k in names}


def load_account(raw: bytes | str) -> AccountRecord:
    """An ``AccountRecord`` from ``dump``'s JSON."""
    return AccountRecord(**_known(AccountRecord, orjson.loads(raw)))


def load_key(raw: bytes | str) -> ServiceKey:
    """A ``ServiceKey`` from ``dump``'s JSON."""
    data = dict(_known(ServiceKey, orjson.loads(raw)))
    limits = dict(_known(KeyLimits, data.pop("limits")))
    limits["models"] = tuple(limits.get("models", ()))
    return ServiceKey(**data, limits=KeyLimits(**limits))
