"""The drift canary on one account at a time: run the probe, keep its result in the store.

``probe`` runs ``upstream.probe``'s checks on one pool account (the ``canary`` command and the
server share it). ``CanaryRunner`` runs it under a lease on the account taken from the store's
``LeaseStore``, like a generation: nothing else uses the account meanwhile (in any process), and
the result is written with the lease (``AccountStore.report``), so a lease holder's write cannot
overwrite it with an older copy. The last run of each account is kept in its record (``canary``,
JSON): the verdict, the time, and every check with the sanitized evidence of a failing one.
The verdict also moves the account's health as a request's failure would (``marked``): token
invalid, muted, banned or disabled park it (a login account logs in again); a server-wide verdict
(unreachable, client version, missing header, WAF, format or mode changes) parks nothing.
``CanarySchedule`` runs it every ``upstream.canary_interval_s`` per account, spread evenly over the
interval (one account at a time, never a burst), and skips an account another process checked
within the interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import anyio
import orjson

from deepseek_free_api.accounts import Account, AccountHealth, AccountPool, is_account_fault
from deepseek_free_api.accounts.condition import Condition
from deepseek_free_api.accounts.health import INVALID_RECHECK_S
from deepseek_free_api.accounts.records import Clocks, apply_marks, with_marks
from deepseek_free_api.api.ops.labels import account_label
from deepseek_free_api.errors import UpstreamUnreachableError
from deepseek_free_api.settings import Settings
from deepseek_free_api.stores import AccountRecord, Lease, Stores
from deepseek_free_api.upstream.client import DeepSeekClient
from deepseek_free_api.upstream.probe import OK, CheckResult, Probe
from deepseek_free_api.upstream.wire import Identity, locality_of

log = logging.getLogger(__name__)

MAX_HEADERS = 40  # kept per failing call: enough to see a WAF or a new header, bounded in the store
BUSY = "busy"  # the account was leased by a generation: not checked this time


def kind(result: str) -> str:
    """A verdict as a metric label: ``muted until …`` is ``muted``, spaces become ``_``."""
    word = "muted" if result.startswith("muted") else result
    return word.lower().replace(" ", "_")


@dataclass(frozen=True, slots=True)
class CanaryRun:
    """One account's checks at one time; ``verdict`` is the first failing check's result, or ok."""

    account: str
    at: float
    checks: tuple[CheckResult, ...]

    @property
    def verdict(self) -> str:
        """The first failing check's result, or ``ok``."""
        return next((check.result for check in self.checks if not check.ok), OK)

    def as_json(self) -> dict[str, Any]:
        """The run as plain JSON (what the store keeps and the admin page shows)."""
        checks = []
        for check in self.checks:
            data = check.as_json()
            data.pop("account")
            if check.evidence is not None:
                data["evidence"]["headers"] = [list(h) for h in check.evidence.headers[:MAX_HEADERS]]
            checks.append(data)
        return {"account": self.account, "at": self.at, "verdict": self.verdict, "checks": checks}


async def probe(
    client: DeepSeekClient, account: Account, settings: Settings, *, completion: bool, name: str = ""
) -> CanaryRun:
    """The canary's checks on ``account``: with its token if it has one, else through a login."""
    secrets = [s for s in (account.token, account.password, account.email, account.mobile) if s]
    checker = Probe(client, secrets=secrets)
    label = name or account.id
    at = time.time()
    if account.token:
        identity = Identity.of(account)
        checks = await checker.account(label, identity, completion=completion)
    else:
        login: dict[str, Any] = {
            "password": account.password,
            "device_id": account.device_id,
            "os": settings.persona.platform,
        }
        if account.email:
            login["email"] = account.email
        else:
            login.update({"mobile": account.mobile, "area_code": account.area_code})
        locality = locality_of(account)
        checks = await checker.account(
            label, None, login=login, completion=completion, proxy=account.proxy, locality=locality
        )
    return CanaryRun(label, at, tuple(checks))


def marked(
    record: AccountRecord, run: CanaryRun, account: Account, *, completion: bool, clocks: Clocks
) -> AccountRecord:
    """``record`` with what ``run`` says of the account's health, as a request's failure would say it.

    An ok run ends a ban or disable only when it included a completion (a ban may show only there),
    and only a mark the health rules re-check by themselves (never one kept for the operator).
    """
    health = AccountHealth(label=record.id)
    apply_marks(health, record, clocks)
    failing = next((check for check in run.checks if not check.ok), None)
    if failing is None:
        proved = completion or health.condition not in (Condition.BANNED, Condition.DISABLED)
        if proved and health.recheck_passed("the canary's re-check worked", wall_now=clocks.wall):
            return with_marks(record, health, clocks)
        return record
    error = failing.error
    if error is None or not (is_account_fault(error) or isinstance(error, UpstreamUnreachableError)):
        return record  # a server-wide change, or nothing the account did: kept in the run, not parked
    recheck_at = clocks.now + INVALID_RECHECK_S
    if failing.check == "login" and is_account_fault(error):  # wrong password, banned, disabled
        health.login_failed(error, error.message, now=clocks.now, wall_now=clocks.wall, recheck_at=recheck_at)
    else:
        health.record_error(
            error,
            now=clocks.now,
            wall_now=clocks.wall,
            can_login=account.has_credentials,
            recheck_at=recheck_at,
        )
    return with_marks(record, health, clocks, failed=True)


def last_run(text: str | None) -> dict[str, Any] | None:
    """The run a record keeps (``AccountRecord.canary``), or None."""
    if not text:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


class CanaryRunner:
    """Runs the canary on pool accounts under a lease and keeps each result in the store."""

    def __init__(
        self,
        stores: Stores,
        client: DeepSeekClient,
        settings: Settings,
        *,
        on_result: Callable[[str], None] = lambda kind: None,
    ) -> None:
        self._stores = stores
        self._client = client
        self._settings = settings
        self._on_result = on_result
        self._owner = f"canary:{os.getpid()}"
        self._lock = anyio.Lock()  # one account at a time in this process, scheduled or on demand

    async def run(self, account: Account, *, wait_s: float) -> dict[str, Any]:
        """``check``, as JSON: a busy account gives ``{"verdict": "busy"}``."""
        run = await self.check(account, wait_s=wait_s)
        if run is None:
            return {"account": account.id, "at": time.time(), "verdict": BUSY, "checks": []}
        return run.as_json()

    async def check(
        self, account: Account, *, wait_s: float, completion: bool | None = None, name: str = ""
    ) -> CanaryRun | None:
        """Check ``account`` now (waiting up to ``wait_s`` for its lease) and keep the run; None if busy."""
        if completion is None:
            completion = self._settings.upstream.canary_completion
        async with self._lock:
            lease = await self._lease(account.id, wait_s)
            if lease is None:
                return None
            try:
                async with anyio.create_task_group() as group:
                    group.start_soon(self._renew, lease)
                    run = await probe(self._client, account, self._settings, completion=completion, name=name)
                    await self._keep(lease, run, account, completion=completion)
                    group.cancel_scope.cancel()
            finally:
                with anyio.CancelScope(shield=True):
                    pause = self._settings.pool.min_interval_s if completion else 0.0
                    await self._stores.leases.release(lease, pause_s=pause)
        self._on_result(kind(run.verdict))
        level = logging.INFO if run.verdict == OK else logging.WARNING
        log.log(level, "canary: account %s: %s", account_label(account.id), run.verdict)
        return run

    async def _lease(self, account_id: str, wait_s: float) -> Lease | None:
        ttl = self._settings.pool.lease_ttl_s
        deadline = time.monotonic() + wait_s
        while True:
            lease = await self._stores.leases.acquire([account_id], self._owner, ttl)
            if lease is not None or time.monotonic() >= deadline:
                return lease
            await anyio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))

    async def _renew(self, lease: Lease) -> None:
        ttl = self._settings.pool.lease_ttl_s
        while True:
            await anyio.sleep(ttl / 3)
            renewed = await self._stores.leases.renew(lease, ttl)
            if renewed is None:
                return
            lease = renewed

    async def _keep(self, lease: Lease, run: CanaryRun, account: Account, *, completion: bool) -> None:
        record = await self._stores.accounts.get(lease.account_id)
        if record is None:
            return  # removed meanwhile
        text = orjson.dumps(run.as_json() | {"account": account.id}).decode()
        clocks = Clocks(time.monotonic(), time.time())
        record = marked(record, run, account, completion=completion, clocks=clocks)
        if not await self._stores.accounts.report(lease, replace(record, canary=text)):
            log.warning("canary: the lease on account %s ended before its result was kept", lease.account_id)


class CanarySchedule:
    """Every ``interval_s``, each account once, one after the other, evenly spread over the interval."""

    def __init__(
        self,
        runner: CanaryRunner,
        accounts: Callable[[], Sequence[Account]],
        stores: Stores,
        interval_s: float,
        *,
        wait_s: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self._wait_s = wait_s
        self._gap = interval_s
        self._runner = runner
        self._accounts = accounts
        self._stores = stores
        self._interval_s = interval_s
        self._sleep = sleep

    async def run_forever(self) -> None:
        """The schedule's loop (a task of the app's lifespan)."""
        while True:
            accounts = list(self._accounts())
            if not accounts:
                await self._sleep(self._interval_s)
                continue
            self._gap = gap = self._interval_s / len(accounts)
            for account in accounts:
                await self._sleep(gap)  # first the gap: a start (or many workers) is no burst
                try:
                    await self._one(account)
                except Exception:  # noqa: BLE001 - the next account, and the next round, still run
                    log.exception("canary: checking account %s failed", account_label(account.id))

    async def _one(self, account: Account) -> None:
        record = await self._stores.accounts.get(account.id)
        if record is None:
            return
        last = last_run(record.canary)
        if last is not None and time.time() - float(last.get("at", 0)) < self._interval_s * 0.9:
            return  # another process sharing the store checked it in this round
        # A busy account is waited for a while (half the gap at most): a loaded server still gets checked.
        await self._runner.run(account, wait_s=min(self._gap / 2, self._wait_s))


def start_schedule(
    runner: CanaryRunner, pool: AccountPool, stores: Stores, interval_s: float, *, wait_s: float
) -> asyncio.Task[None] | None:
    """Start the scheduled canary on the pool's server accounts (None when ``interval_s`` is 0)."""
    if interval_s <= 0:
        log.info("canary: no schedule (upstream.canary_interval_s = 0)")
        return None

    def accounts() -> list[Account]:
        found = (pool.get(account_id) for account_id, _ in pool.devices())
        return [account for account in found if account is not None and account.source == "server"]

    log.info("canary: each server account once every %gs, one at a time", interval_s)
    schedule = CanarySchedule(runner, accounts, stores, interval_s, wait_s=wait_s)
    return asyncio.create_task(schedule.run_forever(), name="canary-schedule")


async def stop_schedule(task: asyncio.Task[None] | None) -> None:
    """Stop the scheduled canary (its lease, if it holds one, is released as it unwinds)."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
