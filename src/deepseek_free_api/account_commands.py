"""``deepseek-free-api accounts list|add|remove|check|enable``: DeepSeek accounts in the store.

The commands act on the same store as running servers (SQLite file or Redis): an added account is
served, a removed one dropped, a checked one's marks replaced, within a few seconds (servers read
the records back every ``accounts.pool.SYNC_S``). A token or password given as ``-`` is read from
standard input, so that it stays out of the shell's history and the process list.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

import anyio

from deepseek_free_api import account_actions as actions
from deepseek_free_api.accounts import Account
from deepseek_free_api.config import ConfigError, Settings, load_settings
from deepseek_free_api.stores import AccountRecord, StoreError, Stores, open_stores


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``accounts`` and its subcommands to the CLI."""
    accounts = sub.add_parser(
        "accounts", help="list, add, remove, re-check and re-enable DeepSeek accounts (in the store)"
    )
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument("--config", default=None, help="TOML configuration file (for store.url)")
    commands = accounts.add_subparsers(dest="action", required=True)
    commands.add_parser(
        "list", parents=[config], help="every account: state with reasons and times, last use"
    )
    add = commands.add_parser("add", parents=[config], help="add a token account, or an e-mail/mobile login")
    add.add_argument("--name", help="the account's id (default: derived from the token or login)")
    login = add.add_mutually_exclusive_group(required=True)
    login.add_argument("--token", help="a DeepSeek user token ('-': read it from standard input)")
    login.add_argument("--email", help="log in with this e-mail address (needs --password)")
    login.add_argument("--mobile", help="log in with this mobile number (needs --password)")
    add.add_argument("--area-code", help="with --mobile: the country calling code, e.g. +86")
    add.add_argument("--password", help="the login's password ('-': read it from standard input)")
    add.add_argument("--proxy", help="HTTP(S) or SOCKS proxy for this account, e.g. socks5://host:1080")
    add.add_argument(
        "--locale", help="its X-Client-Locale and Accept-Language, e.g. en-US (default: persona.locale)"
    )
    add.add_argument(
        "--timezone-offset",
        help="its X-Client-Timezone-Offset: seconds east of UTC (28800 = UTC+8) or 'auto' for this "
        "machine's (default: persona.timezone_offset)",
    )
    remove = commands.add_parser("remove", parents=[config], help="remove an account from the store")
    remove.add_argument("name")
    check = commands.add_parser("check", parents=[config], help="ask DeepSeek about one account now")
    check.add_argument("name")
    enable = commands.add_parser(
        "enable", parents=[config], help="clear an account's cooldown, mute and invalid marks now"
    )
    enable.add_argument("name")


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
    account = None
    if args.action == "add":
        try:
            account = actions.new_account(_spec(args), settings.persona.device_salt)
        except actions.ActionError as exc:
            print(f"deepseek-free-api accounts: {exc.message}", file=err)
            return 2
    async with await open_stores(settings.store.url, settings.server.data_dir) as stores:
        if not stores.location.shared:
            print("deepseek-free-api accounts: store.url is memory://, which no server shares", file=err)
            return 2
        if args.action == "list":
            await _list(stores, out)
            return 0
        try:
            return await _act(args, account, stores, settings, out, err)
        except actions.ActionError as exc:
            print(f"deepseek-free-api accounts: {exc.message}", file=err)
            return 1


async def _act(
    args: argparse.Namespace,
    account: Account | None,
    stores: Stores,
    settings: Settings,
    out: TextIO,
    err: TextIO,
) -> int:
    if account is not None:
        await actions.add(stores, account)
        kind = "token" if not account.has_credentials else "login"
        print(f"added {kind} account {account.id!r} to {stores.location.describe()}", file=err)
        print(
            "running servers start using it within seconds; check it now with: accounts check " + account.id,
            file=err,
        )
        return 0
    if args.action == "remove":
        record = await actions.remove(stores, args.name)
        print(f"removed account {record.id!r}; running servers stop using it within seconds", file=err)
        if record.origin == "config":
            print("it is in the configuration, so the next start adds it again", file=err)
        return 0
    if args.action == "enable":
        record = await actions.reenable(stores, args.name)
        print(
            f"account {record.id!r}: marks cleared ({record.condition}); servers use it within seconds",
            file=out,
        )
        return 0
    checked = await actions.check(stores, args.name, settings)
    print(checked.message, file=out)
    return 0 if checked.ok else 1


def _secret(value: str | None) -> str | None:
    if value == "-":
        return sys.stdin.readline().strip()
    return value


def _spec(args: argparse.Namespace) -> actions.NewAccount:
    return actions.NewAccount(
        name=args.name,
        token=_secret(args.token),
        email=args.email,
        mobile=args.mobile,
        area_code=args.area_code,
        password=_secret(args.password),
        proxy=args.proxy,
        locale=args.locale,
        timezone_offset=args.timezone_offset,
    )


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
    "LOCALITY",
    "PROXY",
)


async def _list(stores: Stores, out: TextIO) -> None:
    records = await stores.accounts.all()
    holders = {slot.account_id: slot for slot in await stores.leases.slots([r.id for r in records])}
    now = time.time()
    rows = [_COLUMNS]
    for record in records:
        state, until = actions.state_of(record, holders.get(record.id), now)
        error = "-" if record.last_error is None else f"{record.last_error} {_when(record.last_error_at)}"
        rows.append(
            (
                record.id,
                actions.login_of(record),
                record.origin,
                state,
                record.condition,
                _when(until),
                record.invalid_reason or (record.condition != "healthy" and record.condition_reason) or "-",
                _when(record.last_used_at),
                error,
                _locality(record),
                actions.proxy_of(record.proxy),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(), file=out
        )


def _locality(record: AccountRecord) -> str:
    """The account's own locale and timezone offset (``en-US UTC+3600``); ``-`` where persona.* applies."""
    locale = record.locale or "-"
    offset = record.timezone_offset
    zone = "-" if offset is None else "auto" if offset == "auto" else f"UTC{int(offset):+d}s"
    return "-" if locale == zone == "-" else f"{locale} {zone}"


def _when(epoch: float | None) -> str:
    return "-" if not epoch else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))
