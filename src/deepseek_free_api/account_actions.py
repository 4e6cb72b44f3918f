"""Operator actions on the accounts in the store: add, remove, re-check, re-enable, and how to show one.

The ``accounts`` command and the admin page both call these, so an account added from either is
the same record, checked the same way. They act on the shared store (SQLite file or Redis):
running servers pick a change up within ``accounts.pool.SYNC_S`` seconds (``sync``), and the
process that made it at once when it passes its pool. What they return or raise never holds a
token, password or proxy password; views show the last four characters at most.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from typing import Any

from deepseek_free_api.accounts import Account, AccountHealth, AccountPool, account_from_config
from deepseek_free_api.accounts.condition import Condition, verdict
from deepseek_free_api.accounts.health import AccountState
from deepseek_free_api.accounts.login import masked
from deepseek_free_api.accounts.records import Clocks, account_from_record, apply_marks, definition
from deepseek_free_api.config import AccountConfig, Settings
from deepseek_free_api.errors import InvalidTokenError, ServiceError
from deepseek_free_api.settings import locale_problem, proxy_problem, timezone_offset_of, token_problem
from deepseek_free_api.stores import AccountRecord, LeaseSlot, Stores

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")
_FIELD_CHARS = 320  # an e-mail address, a mobile number or an area code is never longer


class ActionError(Exception):
    """An action was refused; ``status`` is the HTTP status the admin page answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class NewAccount:
    """What ``add`` is given: a token, or an e-mail or mobile number with a password."""

    name: str | None = None
    token: str | None = None
    email: str | None = None
    mobile: str | None = None
    area_code: str | None = None
    password: str | None = None
    proxy: str | None = None
    locale: str | None = None  # its own X-Client-Locale / Accept-Language (None: persona.locale)
    timezone_offset: str | None = None  # seconds east of UTC or "auto" (None: persona.timezone_offset)


@dataclass(frozen=True, slots=True)
class Checked:
    """What ``check`` found: whether DeepSeek accepts the account, and a sentence without secrets."""

    ok: bool
    message: str


def new_account(spec: NewAccount, device_salt: str) -> Account:
    """The account ``spec`` describes; ActionError(400) naming what is wrong (never quoting a secret)."""
    token, password = spec.token or None, spec.password or None
    plain = (spec.email, spec.mobile, spec.area_code)
    problem = None
    if spec.name and not NAME.fullmatch(spec.name):
        problem = "a name takes 1-64 letters, digits, '.', '_', '@', '+' or '-'"
    elif any(value is not None and len(value) > _FIELD_CHARS for value in plain):
        problem = f"an e-mail, mobile number or area code takes at most {_FIELD_CHARS} characters"
    elif spec.email and spec.mobile:
        problem = "give an e-mail or a mobile number, not both"
    elif token is not None and (why := token_problem(token)):
        problem = f"the token {why}"
    elif token is not None and password:
        problem = "give either a token or a login with a password, not both"
    elif token is None and not (password and (spec.email or spec.mobile)):
        problem = "give a token, or an e-mail or mobile number with a password"
    elif spec.area_code and not spec.mobile:
        problem = "an area code goes with a mobile number"
    elif spec.proxy and (why := proxy_problem(spec.proxy)):
        problem = f"the proxy {why}"
    elif spec.locale and (why := locale_problem(spec.locale)):
        problem = f"the locale {why}"
    if problem is not None:
        raise ActionError(400, problem)
    try:
        offset = None if spec.timezone_offset is None else timezone_offset_of(spec.timezone_offset)
    except ValueError as exc:
        raise ActionError(400, f"the timezone offset {exc}") from None
    config = AccountConfig(
        name=spec.name or None,
        token=token,
        email=spec.email or None,
        mobile=spec.mobile or None,
        area_code=spec.area_code or None,
        password=password,
        proxy=spec.proxy or None,
        locale=spec.locale or None,
        timezone_offset=offset,
    )
    return account_from_config(config, device_salt)


async def add(stores: Stores, account: Account, pool: AccountPool | None = None) -> AccountRecord:
    """Put a new account into the store; ActionError(409) if its id is taken."""
    if await stores.accounts.get(account.id) is not None or (pool is not None and account.id in pool):
        raise ActionError(409, f"account {account.id!r} exists; remove it first")
    record = definition(account, "added")
    await stores.accounts.put(record)
    if pool is not None:
        await pool.sync()  # served here at once; other processes within seconds
    return record


async def remove(stores: Stores, account_id: str, pool: AccountPool | None = None) -> AccountRecord:
    """Take an account out of the store; ActionError(404) if there is none."""
    record = await record_of(stores, account_id)
    await stores.accounts.remove(record.id)
    if pool is not None:
        await pool.sync()
    return record


async def reenable(stores: Stores, account_id: str, pool: AccountPool | None = None) -> AccountRecord:
    """Clear cooldown, mute and invalid marks (an operator's decision), here and in the store."""
    record = await record_of(stores, account_id)
    if pool is not None and account_id in pool:
        await pool.reset(account_id)  # the pool's own reset: its marks and the record together
        return await record_of(stores, account_id)
    health = AccountHealth(label=account_id)
    apply_marks(health, record, Clocks(time.time(), time.time()))
    health.reset()
    last = health.last_transition
    fresh = replace(
        record,
        invalid_reason=None,
        invalid_until=None,
        mute_until=0.0,
        cooldown_until=0.0,
        throttle_streak=0,
        condition=health.condition.value,
        condition_reason=None if last is None else last.reason,
        condition_at=None if last is None else last.at,
        condition_until=None if last is None else last.until,
    )
    await stores.accounts.put(fresh)
    return fresh


async def check(
    stores: Stores, account_id: str, settings: Settings, pool: AccountPool | None = None
) -> Checked:
    """Ask DeepSeek whether the token works (logging in again if it can); write what it said."""
    from deepseek_free_api.app import log_in  # the upstream client's wiring
    from deepseek_free_api.upstream.client import DeepSeekClient, Identity

    record = await record_of(stores, account_id)
    account = account_from_record(record, settings.persona.device_salt)
    if account is None:
        return Checked(False, f"account {record.id!r} has no token and no login to check")
    client = DeepSeekClient.from_settings(settings)
    now = time.time()
    try:
        if account.token is not None:
            try:
                await client.current_user(Identity.of(account))
            except InvalidTokenError:
                if not account.has_credentials:
                    raise
                account.token = None
        if account.token is None:
            account.token = await log_in(client, account)
    except ServiceError as exc:
        reason = f"{type(exc).__name__}: {exc.message}"[:200]
        if not exc.retryable:  # a network hiccup says nothing about the account; a refusal does
            await stores.accounts.put(_refused(record, f"{reason} (accounts check)", exc, now))
        await _synced(pool)
        return Checked(False, f"account {record.id!r}: DeepSeek refused it: {reason}")
    finally:
        await client.aclose()
    await stores.accounts.put(_accepted(record, account.token, now))
    await _synced(pool)
    return Checked(
        True, f"account {record.id!r}: DeepSeek accepts its token ({masked(account.token)}); marks cleared"
    )


def _refused(record: AccountRecord, reason: str, error: ServiceError, now: float) -> AccountRecord:
    return replace(
        record,
        invalid_reason=reason,
        invalid_until=None,
        checked_at=now,
        condition=verdict(error, Condition.INVALID_TOKEN).value,
        condition_reason=reason,
        condition_at=now,
        condition_until=None,
    )


def _accepted(record: AccountRecord, token: str, now: float) -> AccountRecord:
    fresh = replace(
        record,
        token=token,
        token_updated_at=now if token != record.token else record.token_updated_at,
        needs_login=False,
        invalid_reason=None,
        invalid_until=None,
        cooldown_until=0.0,
        checked_at=now,
    )
    if Condition(record.condition) not in (Condition.HEALTHY, Condition.MUTED):  # a mute is DeepSeek's to end
        fresh = replace(
            fresh,
            condition=Condition.HEALTHY.value,
            condition_reason="accepted by DeepSeek (accounts check)",
            condition_at=now,
            condition_until=None,
            throttle_streak=0,
        )
    return fresh


async def _synced(pool: AccountPool | None) -> None:
    if pool is not None:
        await pool.sync()


async def record_of(stores: Stores, account_id: str) -> AccountRecord:
    """The account's record; ActionError(404) if there is none."""
    record = await stores.accounts.get(account_id)
    if record is None:
        raise ActionError(404, f"no account {account_id[:64]!r} in {stores.location.describe()}")
    return record


# -- how an account is shown ---------------------------------------------------------------------


def state_of(record: AccountRecord, slot: LeaseSlot | None, now: float) -> tuple[str, float | None]:
    """The state a server would see now, and when it ends (epoch seconds)."""
    if slot is not None and slot.holder is not None:
        return f"busy ({slot.holder.owner})", None
    health = AccountHealth()
    apply_marks(health, record, Clocks(now, now))  # the pool's clock is the wall clock here
    if slot is not None:
        health.ready_at = slot.free_at
    state, until = health.state(now)
    if state is AccountState.FREE and record.token is None:
        return AccountState.NEEDS_LOGIN.value, None
    return state.value, until


def login_of(record: AccountRecord) -> str:
    """How the account logs in, for a list: the e-mail or mobile, or the token's last four characters."""
    if record.password and record.email:
        return f"email {record.email}"
    if record.password and record.mobile:
        return f"mobile {record.area_code or ''}{record.mobile}"
    return f"token {masked(record.token)}" if record.token else "-"


def proxy_of(url: str | None) -> str:
    """The proxy's scheme, host and port; never its user name or password."""
    if not url:
        return "-"
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2].split('/', 1)[0]}"


def view(record: AccountRecord) -> dict[str, Any]:
    """An account record as the admin page's JSON shows it: no token, password or proxy password."""
    return {
        "id": record.id,
        "login": login_of(record),
        "origin": record.origin,
        "proxy": proxy_of(record.proxy),
        "locale": record.locale,
        "timezone_offset": record.timezone_offset,
        "condition": record.condition,
        "condition_reason": record.condition_reason,
        "condition_at": record.condition_at,
        "condition_until": record.condition_until,
        "last_used_at": record.last_used_at,
        "checked_at": record.checked_at,
    }
