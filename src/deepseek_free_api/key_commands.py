"""``deepseek-free-api keys create|list|revoke``: service keys in the store named by the settings.

The commands act on the same store as a running server (SQLite file or Redis), so a key works,
or stops working, as soon as the command returns. ``create`` prints the key once, alone on
standard output (``KEY=$(deepseek-free-api keys create --name ci)``); only its digest is kept.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from typing import TextIO

import anyio

from deepseek_free_api.config import ConfigError, load_settings
from deepseek_free_api.stores import KeyExistsError, KeyLimits, ServiceKey, StoreError, Stores, open_stores

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DAY_S = 86400.0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``keys`` and its subcommands to the CLI."""
    keys = sub.add_parser("keys", help="create, list and revoke service keys (in the configured store)")
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument("--config", default=None, help="TOML configuration file (for store.url)")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", parents=[config], help="create a key and print it once")
    create.add_argument("--name", required=True, help="the key's name: letters, digits, '.', '_', '-'")
    create.add_argument("--rpm", type=_positive_int, help="requests per rolling minute")
    create.add_argument("--concurrency", type=_positive_int, help="requests in flight at once")
    create.add_argument("--tokens-per-day", type=_positive_int, help="input + output tokens per UTC day")
    create.add_argument("--models", type=_patterns, help="allowed models, comma-separated (deepseek-v4-*)")
    create.add_argument("--expires", type=_positive_float, metavar="DAYS", help="expire after DAYS days")
    actions.add_parser(
        "list", parents=[config], help="every key: name, prefix, limits, usage today, last use"
    )
    revoke = actions.add_parser("revoke", parents=[config], help="revoke a key at once")
    revoke.add_argument("name")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, got {text!r}") from None
    if not 0 < value < 100 * 365:
        raise argparse.ArgumentTypeError(f"must be more than 0 and under 100 years, got {value}")
    return value


def _patterns(text: str) -> tuple[str, ...]:
    patterns = tuple(p.strip() for p in text.split(",") if p.strip())
    if not patterns:
        raise argparse.ArgumentTypeError("give at least one model name or pattern")
    return patterns


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run one ``keys`` subcommand; returns the exit code."""
    if args.action == "create" and not _NAME.fullmatch(args.name):
        print("deepseek-free-api keys: --name takes 1-64 letters, digits, '.', '_' or '-'", file=err)
        return 2
    try:
        settings = load_settings(config_path=args.config)
    except (ConfigError, OSError) as exc:
        print(f"deepseek-free-api: configuration error: {exc}", file=err)
        return 2
    try:
        return anyio.run(_run, args, settings.store.url, settings.server.data_dir, out, err)
    except StoreError as exc:
        print(f"deepseek-free-api keys: {exc}", file=err)
        return 2


async def _run(args: argparse.Namespace, url: str, data_dir: str, out: TextIO, err: TextIO) -> int:
    async with await open_stores(url, data_dir) as stores:
        if not stores.location.shared:
            print(
                "deepseek-free-api keys: store.url is memory://, which no server shares; set a SQLite or "
                "Redis store",
                file=err,
            )
            return 2
        if args.action == "create":
            return await _create(stores, args, out, err)
        if args.action == "revoke":
            if await stores.keys.revoke(args.name):
                print(f"revoked service key {args.name!r}; it is refused from now on", file=err)
                return 0
            print(f"deepseek-free-api keys: no active service key named {args.name!r}", file=err)
            return 1
        await _list(stores, out)
        return 0


async def _create(stores: Stores, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    expires_at = None if args.expires is None else time.time() + args.expires * _DAY_S
    limits = KeyLimits(args.rpm, args.concurrency, args.tokens_per_day, args.models or (), expires_at)
    try:
        record, key = await stores.keys.create(args.name, limits)
    except KeyExistsError as exc:
        print(f"deepseek-free-api keys: {exc}", file=err)
        return 1
    print(
        f"created service key {record.name!r} in {stores.location.describe()} ({_limits(record)}).", file=err
    )
    print("It is shown only this once; only its digest is kept:", file=err)
    print(key, file=out, flush=True)
    return 0


_COLUMNS = ("NAME", "KEY", "STATE", "LIMITS", "REQUESTS TODAY", "TOKENS TODAY", "LAST USED")


async def _list(stores: Stores, out: TextIO) -> None:
    now = time.time()
    rows = [_COLUMNS]
    for record in await stores.keys.all():
        usage = await stores.usage.totals(record.name)
        rows.append(
            (
                record.name,
                f"sk-{record.prefix}…",
                record.state(now),
                _limits(record),
                str(usage.requests),
                str(usage.tokens),
                _when(usage.last_used_at),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(), file=out
        )


def _limits(record: ServiceKey) -> str:
    limits = record.limits
    parts = [
        f"rpm {limits.rpm}" if limits.rpm else "",
        f"concurrency {limits.concurrency}" if limits.concurrency else "",
        f"tokens/day {limits.tokens_per_day}" if limits.tokens_per_day else "",
        f"models {','.join(limits.models)}" if limits.models else "",
        f"expires {_when(limits.expires_at)}" if limits.expires_at else "",
    ]
    return "; ".join(p for p in parts if p) or "no limits"


def _when(epoch: float | None) -> str:
    return "-" if epoch is None else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))
