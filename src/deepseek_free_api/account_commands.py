"""``deepseek-free-api accounts list|add|remove|check``: DeepSeek accounts in the store named by the settings.

The commands act on the same store as running servers (SQLite file or Redis): an added account is
served, a removed one dropped, a checked one's marks replaced, within a few seconds (servers read
the records back every ``accounts.pool.SYNC_S``). A token or password given as ``-`` is read from
standard input, so that it stays out of the shell's history and the process list.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import replace
from typing import TextIO

import anyio

from deepseek_free_api.accounts import Account, AccountHealth, account_from_config
from deepseek_free_api.accounts.condition import Condition, verdict
from deepseek_free_api.accounts.health import AccountState
from deepseek_free_api.accounts.login import masked
from deepseek_free_api.accounts.records import Clocks, account_from_record, apply_marks, definition
from deepseek_free_api.config import AccountConfig, ConfigError, Settings, load_settings
from deepseek_free_api.errors import InvalidTokenError, ServiceError
from deepseek_free_api.settings import proxy_problem, token_problem
from deepseek_free_api.stores import AccountRecord, LeaseSlot, StoreError, Stores, open_stores

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``accounts`` and its subcommands to the CLI."""
    accounts = sub.add_parser(
        "accounts", help="list, add, remove and re-check DeepSeek accounts (in the store)"
    )
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument("--config", default=None, help="TOML configuration file (for store.url)")
    actions = accounts.add_subparsers(dest="action", required=True)
    actions.add_parser("list", parents=[config], help="every account: state with reasons and times, last use")
    add = actions.add_parser("add", parents=[config], help="add a token account, or an e-mail/mobile login")
    add.add_argument("--name", help="the account's id (default: derived from the token or login)")
    login = add.add_mutually_exclusive_group(required=True)
    login.add_argument("--token", help="a DeepSeek user token ('-': read it from standard input)")
    login.add_argument("--email", help="log in with this e-mail address (needs --password)")
    login.add_argument("--mobile", help="log in with this mobile number (needs --password)")
    add.add_argument("--area-code", help="with --mobile: the country calling code, e.g. +86")
    add.add_argument("--password", help="the login's password ('-': read it from standard input)")
    add.add_argument("--proxy", help="HTTP(S) or SOCKS proxy for this account, e.g. socks5://host:1080")
    remove = actions.add_parser("remove", parents=[config], help="remove an account from the store")
    remove.add_argument("name")
    check = actions.add_parser("check", parents=[config], help="ask DeepSeek about one account now")
    check.add_argument("name")


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run one ``accounts`` subcommand; returns the exit code."""
    try:
        settings = load_settings(config_path=args.config)
    except (ConfigError, OSError) as exc:
        print(f"deepseek-free-api: configuration error: {exc}", file=err)
        return 2
    try:
        return anyio.run(_run, args, settings, out, err)
    except StoreError as exc:
        print(f"deepseek-free-api accounts: {exc}", file=err)
        return 2


async def _run(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    account = _new_account(args, settings, err) if args.action == "add" else None
    if args.action == "add" and account is None:
        return 2
    async with await open_stores(settings.store.url, settings.server.data_dir) as stores:
        if not stores.location.shared:
            print("deepseek-free-api accounts: store.url is memory://, which no server shares", file=err)
            return 2
        if args.action == "list":
            await _list(stores, out)
            return 0
        if account is not None:
            return await _add(stores, account, err)
        record = await stores.accounts.get(args.name)
        if record is None:
            print(
                f"deepseek-free-api accounts: no account {args.name!r} in {stores.location.describe()}",
                file=err,
            )
            return 1
        if args.action == "remove":
            await stores.accounts.remove(record.id)
            print(f"removed account {record.id!r}; running servers stop using it within seconds", file=err)
            if record.origin == "config":
                print("it is in the configuration, so the next start adds it again", file=err)
            return 0
        return await _check(stores, record, settings, out, err)


def _secret(value: str | None) -> str | None:
    if value == "-":
        return sys.stdin.readline().strip()
    return value


def _new_account(args: argparse.Namespace, settings: Settings, err: TextIO) -> Account | None:
    """The account ``add`` describes, or None after saying what is wrong."""
    token, password = _secret(args.token), _secret(args.password)
    problem = None
    if args.name is not None and not _NAME.fullmatch(args.name):
        problem = "--name takes 1-64 letters, digits, '.', '_', '@', '+' or '-'"
    elif token is not None and (why := token_problem(token)):
        problem = f"--token {why}"
    elif token is None and not password:
        problem = "--email and --mobile need --password"
    elif token is not None and password:
        problem = "give either --token or a login with --password, not both"
    elif args.area_code and not args.mobile:
        problem = "--area-code goes with --mobile"
    elif args.proxy is not None and (why := proxy_problem(args.proxy)):
        problem = f"--proxy {why}"
    if problem is not None:
        print(f"deepseek-free-api accounts: {problem}", file=err)
        return None
    config = AccountConfig(
        name=args.name,
        token=token,
        email=args.email,
        mobile=args.mobile,
        area_code=args.area_code,
        password=password,
        proxy=args.proxy,
    )
    return account_from_config(config, settings.persona.device_salt)


async def _add(stores: Stores, account: Account, err: TextIO) -> int:
    if await stores.accounts.get(account.id) is not None:
        print(f"deepseek-free-api accounts: account {account.id!r} exists; remove it first", file=err)
        return 1
    await stores.accounts.put(definition(account, "added"))
    kind = "token" if not account.has_credentials else "login"
    print(f"added {kind} account {account.id!r} to {stores.location.describe()}", file=err)
    print(
        "running servers start using it within seconds; check it now with: accounts check " + account.id,
        file=err,
    )
    return 0


async def _check(stores: Stores, record: AccountRecord, settings: Settings, out: TextIO, err: TextIO) -> int:
    """Ask DeepSeek whether the token works (logging in again if it can); write what it said."""
    from deepseek_free_api.app import log_in  # the upstream client's wiring
    from deepseek_free_api.upstream.client import DeepSeekClient, Identity

    account = account_from_record(record, settings.persona.device_salt)
    if account is None:
        print(f"account {record.id!r} has no token and no login to check", file=err)
        return 1
    client = DeepSeekClient.from_settings(settings)
    now = time.time()
    try:
        if account.token is not None:
            try:
                await client.current_user(Identity(account.token, account.device_id, account.proxy))
            except InvalidTokenError:
                if not account.has_credentials:
                    raise
                account.token = None
        if account.token is None:
            account.token = await log_in(client, account)
    except ServiceError as exc:
        reason = f"{type(exc).__name__}: {exc.message}"[:200]
        if not exc.retryable:  # a network hiccup says nothing about the account; a refusal does
            checked = replace(
                record,
                invalid_reason=f"{reason} (accounts check)",
                invalid_until=None,
                checked_at=now,
                condition=verdict(exc, Condition.INVALID_TOKEN).value,
                condition_reason=f"{reason} (accounts check)",
                condition_at=now,
                condition_until=None,
            )
            await stores.accounts.put(checked)
        print(f"account {record.id!r}: DeepSeek refused it: {reason}", file=out)
        return 1
    finally:
        await client.aclose()
    fresh = replace(
        record,
        token=account.token,
        token_updated_at=now if account.token != record.token else record.token_updated_at,
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
    await stores.accounts.put(fresh)
    print(
        f"account {record.id!r}: DeepSeek accepts its token ({masked(account.token or '')}); marks cleared",
        file=out,
    )
    return 0


_COLUMNS = (
    "ACCOUNT",
    "LOGIN",
    "ORIGIN",
    "STATE",
    "CONDITION",
    "UNTIL",
    "REASON",
    "LAST USED",
    "LAST ERROR",
    "PROXY",
)


async def _list(stores: Stores, out: TextIO) -> None:
    records = await stores.accounts.all()
    holders = {slot.account_id: slot for slot in await stores.leases.slots([r.id for r in records])}
    now = time.time()
    rows = [_COLUMNS]
    for record in records:
        state, until = _state(record, holders.get(record.id), now)
        error = "-" if record.last_error is None else f"{record.last_error} {_when(record.last_error_at)}"
        rows.append(
            (
                record.id,
                _login(record),
                record.origin,
                state,
                record.condition,
                _when(until),
                record.invalid_reason or (record.condition != "healthy" and record.condition_reason) or "-",
                _when(record.last_used_at),
                error,
                _proxy(record.proxy),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(), file=out
        )


def _state(record: AccountRecord, slot: LeaseSlot | None, now: float) -> tuple[str, float | None]:
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


def _login(record: AccountRecord) -> str:
    if record.password and record.email:
        return f"email {record.email}"
    if record.password and record.mobile:
        return f"mobile {record.area_code or ''}{record.mobile}"
    return f"token {masked(record.token)}" if record.token else "-"


def _proxy(url: str | None) -> str:
    """The proxy's scheme, host and port; never its user name or password."""
    if not url:
        return "-"
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2].split('/', 1)[0]}"


def _when(epoch: float | None) -> str:
    return "-" if not epoch else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))
