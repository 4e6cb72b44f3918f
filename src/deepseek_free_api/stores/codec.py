"""Records to JSON and back, the same way in every backend that keeps them as text."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, TypeVar

import orjson

from .protocols import AccountRecord, KeyLimits, ServiceKey

T = TypeVar("T")


def dump(record: AccountRecord | ServiceKey) -> bytes:
    """The record as JSON (tuples become lists)."""
    return orjson.dumps(asdict(record))


def _known(cls: type[T], data: dict[str, Any]) -> dict[str, Any]:
    # A record written by a newer version may carry fields this one does not know: skip them.
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return {k: v for k, v in data.items() if k in names}


def load_account(raw: bytes | str) -> AccountRecord:
    """An ``AccountRecord`` from ``dump``'s JSON."""
    return AccountRecord(**_known(AccountRecord, orjson.loads(raw)))


def load_key(raw: bytes | str) -> ServiceKey:
    """A ``ServiceKey`` from ``dump``'s JSON."""
    data = _known(ServiceKey, orjson.loads(raw))
    limits = _known(KeyLimits, data.pop("limits"))
    limits["models"] = tuple(limits.get("models", ()))
    return ServiceKey(**data, limits=KeyLimits(**limits))
