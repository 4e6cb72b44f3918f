"""Accounts as records in the store: built from the configuration, written after each lease, read back.

The pool keeps an account's marks in its own clock (monotonic seconds); a record keeps them in
epoch seconds, so that another process, or this one after a restart, reads the same mute,
cooldown and invalid marks. ``Clocks`` converts between the two at one moment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from ..config import AccountConfig, device_id_for
from ..settings import TimezoneOffset, locale_problem, timezone_offset_of
from ..stores import AccountOrigin, AccountRecord
from .account import Account
from .condition import Condition, Transition
from .health import AccountHealth


@dataclass(frozen=True, slots=True)
class Clocks:
    """The pool's clock and the wall clock read at the same moment."""

    now: float
    wall: float

    def to_wall(self, until: float) -> float:
        """A pool time as epoch seconds; 0 for a time already past (the mark has ended)."""
        return 0.0 if until <= self.now else self.wall + (until - self.now)

    def to_pool(self, epoch: float | None) -> float:
        """Epoch seconds as pool time (``None`` = never ends)."""
        if epoch is None:
            return math.inf
        return 0.0 if epoch <= 0 else self.now + (epoch - self.wall)


def account_from_config(config: AccountConfig, device_salt: str) -> Account:
    """A pool account from its configuration, with its own stable device id."""
    device_id = device_id_for(config.identity, device_salt)
    if config.password and (config.email or config.mobile):
        return Account.from_credentials(
            password=config.password,
            email=config.email,
            mobile=config.mobile,
            area_code=config.area_code,
            name=config.name,
            token=config.token,
            device_id=device_id,
            proxy=config.proxy,
            locale=config.locale,
            timezone_offset=config.timezone_offset,
        )
    assert config.token
    return Account.from_token(
        config.token,
        name=config.name,
        device_id=device_id,
        proxy=config.proxy,
        locale=config.locale,
        timezone_offset=config.timezone_offset,
    )


def config_of(record: AccountRecord) -> AccountConfig:
    """The configuration an added account's record describes (its current token included)."""
    login = bool(record.password and (record.email or record.mobile))
    return AccountConfig(
        name=record.id,
        token=None if login else record.token,
        email=record.email,
        mobile=record.mobile,
        area_code=record.area_code,
        password=record.password,
        proxy=record.proxy,
        locale=None if record.locale is None or locale_problem(record.locale) else record.locale,
        timezone_offset=_timezone_offset(record.timezone_offset),
    )


def _timezone_offset(stored: int | str | None) -> TimezoneOffset | None:
    """A record's timezone offset; one this version cannot read is the persona's (None)."""
    try:
        return None if stored is None else timezone_offset_of(stored)
    except ValueError:
        return None


def account_from_record(record: AccountRecord, device_salt: str) -> Account | None:
    """The account an ``accounts add`` record describes; None if it has no token and no login."""
    config = config_of(record)
    if not config.token and not (config.password and (config.email or config.mobile)):
        return None
    account = account_from_config(config, device_salt)
    if account.has_credentials and record.token:
        account.token = record.token  # the token of its last login
    return account


def definition(account: Account, origin: AccountOrigin, base: AccountRecord | None = None) -> AccountRecord:
    """A record carrying how ``account`` logs in (keeping ``base``'s marks and counters)."""
    record = base or AccountRecord(account.id)
    return replace(
        record,
        token=account.token,
        email=account.email,
        mobile=account.mobile,
        area_code=account.area_code,
        password=account.password,
        proxy=account.proxy,
        locale=account.locale,
        timezone_offset=account.timezone_offset,
        origin=origin,
    )


def with_health(
    record: AccountRecord,
    account: Account,
    health: AccountHealth,
    clocks: Clocks,
    *,
    used: bool = False,
    failed: bool = False,
) -> AccountRecord:
    """``record`` with the account's current token and marks; ``used``/``failed``: a generation just ended."""
    token_changed = account.token != record.token
    return replace(  # one copy, not two: this runs after every generation
        record,
        **_marks(record, health, clocks, used=used, failed=failed),
        token=account.token,
        token_updated_at=clocks.wall if token_changed else record.token_updated_at,
    )


def with_marks(
    record: AccountRecord, health: AccountHealth, clocks: Clocks, *, used: bool = False, failed: bool = False
) -> AccountRecord:
    """``record`` with the marks, counters and condition of ``health`` (its token unchanged)."""
    return replace(record, **_marks(record, health, clocks, used=used, failed=failed))


def _marks(
    record: AccountRecord, health: AccountHealth, clocks: Clocks, *, used: bool, failed: bool
) -> dict[str, Any]:  # (a dict of AccountRecord fields, for replace)
    """The fields ``with_marks`` sets."""
    invalid = health.invalid_reason is not None
    last = health.last_transition
    return dict(
        needs_login=health.needs_login,
        invalid_reason=health.invalid_reason,
        invalid_until=(
            None if not invalid or math.isinf(health.invalid_until) else clocks.to_wall(health.invalid_until)
        ),
        mute_until=clocks.to_wall(health.muted_until),
        cooldown_until=clocks.to_wall(health.cooldown_until),
        last_used_at=clocks.wall if used else record.last_used_at,
        successes=health.successes,
        errors=health.errors,
        last_error=health.last_error,
        last_error_at=clocks.wall if failed else record.last_error_at,
        condition=health.condition.value,
        condition_reason=None if last is None else last.reason,
        condition_at=None if last is None else last.at,
        condition_until=None if last is None else last.until,
        throttle_streak=health.throttle_streak,
    )


def apply_marks(health: AccountHealth, record: AccountRecord, clocks: Clocks) -> None:
    """Take the record's marks and counters into ``health`` (the token is the registry's business)."""
    health.needs_login = record.needs_login
    health.invalid_reason = record.invalid_reason
    health.invalid_until = 0.0 if record.invalid_reason is None else clocks.to_pool(record.invalid_until)
    health.muted_until = clocks.to_pool(record.mute_until)
    health.cooldown_until = clocks.to_pool(record.cooldown_until)
    health.successes = record.successes
    health.errors = record.errors
    health.last_error = record.last_error
    health.throttle_streak = record.throttle_streak
    try:
        condition = Condition(record.condition)
    except ValueError:  # written by a newer version: the marks above still keep it out if they must
        condition = Condition.HEALTHY
    last = health.last_transition
    if record.condition_at is not None and (last is None or last.at != record.condition_at):
        # Taken in quietly: the process that saw the change logged it.
        reason = record.condition_reason or ""
        health.transitions.append(Transition(record.condition_at, condition, reason, record.condition_until))
    health.condition = condition
