"""``deepseek-free-api canary``: check every configured account against DeepSeek, now.

Per account, one after the other: a login (accounts without a token), ``users/current``,
``client/settings?scope=model``, a proof-of-work challenge and, with ``--completion``, a one-token
completion (``upstream/probe.py``). Prints a table (or JSON with ``--json``); the exit code is 1 when
any check failed, 2 for a configuration error. The sanitized evidence of failing calls (status,
headers without secrets, first bytes) goes to ``<server.data_dir>/canary/<time>.json`` for the
operator, and its path is printed. Each account is checked under a lease from the servers' store
(``store.url``) and its run kept in the account's record, which the admin page shows.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import anyio

from deepseek_free_api.config import ConfigError, Settings, load_settings
from deepseek_free_api.stores import StoreError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``canary`` to the CLI."""
    canary = sub.add_parser(
        "canary",
        help="check each configured account against DeepSeek (login, user, settings, PoW, completion)",
    )
    canary.add_argument(
        "--config", default=None, help="TOML configuration file (accounts, upstream, persona)"
    )
    canary.add_argument("--completion", action="store_true", help="also ask for a one-token completion")
    canary.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run the canary; returns the exit code."""
    try:
        settings = load_settings(config_path=args.config)
    except (ConfigError, OSError) as exc:
        print(f"deepseek-free-api canary: configuration error: {exc}", file=err)
        return 2
    if not settings.accounts:
        print(
            "deepseek-free-api canary: no accounts are configured ([[accounts]] or DEEPSEEK_TOKEN)", file=err
        )
        return 2
    try:
        results = anyio.run(_check_all, settings, bool(args.completion))
    except StoreError as exc:
        print(f"deepseek-free-api canary: {exc}", file=err)
        return 2
    failed = [r for r in results if not r.ok]
    if args.json:
        print(json.dumps([_plain(r) for r in results], ensure_ascii=False, indent=1), file=out)
    else:
        _table(results, out)
    if failed:
        path = _keep_evidence(settings, failed)
        print(f"{len(failed)} check(s) failed; evidence: {path}", file=err)
        return 1
    return 0


async def _check_all(settings: Settings, completion: bool) -> list[Any]:
    from deepseek_free_api.accounts import account_from_config
    from deepseek_free_api.canary import CanaryRunner
    from deepseek_free_api.stores import open_stores
    from deepseek_free_api.upstream.client import DeepSeekClient
    from deepseek_free_api.upstream.probe import CheckResult

    client = DeepSeekClient.from_settings(settings)
    results: list[Any] = []
    try:
        # Through the servers' store: each account under a lease (never beside a generation), and
        # each run kept in its record, where the admin page shows it.
        async with await open_stores(settings.store.url, settings.server.data_dir) as stores:
            runner = CanaryRunner(stores, client, settings)
            for config in settings.accounts:
                account = account_from_config(config, settings.persona.device_salt)
                wait_s = settings.pool.wait_timeout_s
                run = await runner.check(account, wait_s=wait_s, completion=completion, name=config.label)
                if run is None:
                    detail = f"in use by a generation for more than {wait_s:g}s (pool.wait_timeout_s)"
                    results.append(CheckResult(config.label, "lease", "busy", detail))
                else:
                    results += run.checks
    finally:
        await client.aclose()
    return results


def _table(results: list[Any], out: TextIO) -> None:
    width = max([len("ACCOUNT"), *(len(r.account) for r in results)])
    result_width = max([len("RESULT"), *(len(r.result) for r in results)])
    print(f"{'ACCOUNT':<{width}}  {'CHECK':<15}  {'RESULT':<{result_width}}  DETAIL", file=out)
    for r in results:
        detail = " ".join(r.detail.split())[:160]
        print(f"{r.account:<{width}}  {r.check:<15}  {r.result:<{result_width}}  {detail}", file=out)


def _plain(result: Any) -> dict[str, Any]:
    data: dict[str, Any] = result.as_json()
    data["ok"] = result.ok
    return data


def _keep_evidence(settings: Settings, failed: list[Any]) -> Path:
    folder = Path(settings.server.data_dir) / "canary"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = folder / f"{stamp}-{os.getpid()}.json"
    path.write_text(json.dumps([_plain(r) for r in failed], ensure_ascii=False, indent=1) + "\n")
    path.chmod(0o600)
    return path
