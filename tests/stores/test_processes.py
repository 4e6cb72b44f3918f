"""Several processes on one store (SQLite file, Redis): exclusive leases, a killed holder, a restart."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson

from deepseek_free_api.stores import AccountRecord, KeyLimits, StoredResponse
from tests.support.processes import REPO

from .conftest import Backend

ROUNDS = 25


def contender(backend: Backend, markers: Path, what: str) -> subprocess.Popen[str]:
    argv = [
        sys.executable,
        "-m",
        "tests.stores.contender",
        backend.url,
        str(backend.data_dir),
        str(markers),
        what,
    ]
    return subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_processes_never_hold_one_account_at_once(shared_backend: Backend, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    processes = [contender(shared_backend, markers, str(ROUNDS)) for _ in range(2)]
    time.sleep(0.5)  # both started (importing takes a moment), then both go at once
    (markers / "go").touch()
    results = []
    for process in processes:
        out, err = process.communicate(timeout=200)
        assert process.returncode == 0, err
        results.append(orjson.loads(out.strip().splitlines()[-1]))
    assert [r["violations"] for r in results] == [0, 0], results
    assert [r["acquired"] for r in results] == [ROUNDS, ROUNDS], results


def test_a_killed_holders_lease_frees_within_its_ttl_and_names_its_generation(
    shared_backend: Backend, tmp_path: Path
) -> None:
    from tests.stores.contender import CRASH_TTL_S

    process = contender(shared_backend, tmp_path, "crash")
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("held"), process.stderr.read() if process.stderr else line
        dead_fence = int(line.split()[1])
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    killed_at = time.monotonic()

    async def main() -> None:
        async with await shared_backend.open() as stores:
            assert await stores.leases.acquire(["shared"], "survivor", 60) is None, "still held"
            while (lease := await stores.leases.acquire(["shared"], "survivor", 60)) is None:
                assert time.monotonic() - killed_at < CRASH_TTL_S + 5, "the dead lease never expired"
                await asyncio.sleep(0.05)
            assert lease.fence > dead_fence
            assert lease.orphan is not None
            assert (lease.orphan.session_id, lease.orphan.message_id) == ("session-of-the-dead", 42)

    asyncio.run(main())


def test_keys_usage_accounts_moves_and_responses_survive_reopening(shared_backend: Backend) -> None:
    async def write() -> str:
        async with await shared_backend.open() as stores:
            _, key = await stores.keys.create("ci-bot", KeyLimits(rpm=2, models=("deepseek-*",)))
            await stores.usage.record("ci-bot", "acct-1", input_tokens=7, output_tokens=3)
            await stores.accounts.put(AccountRecord("acct-1", token="refreshed-token-abcdef", mute_until=2e9))
            await stores.conversations.moved("s-1", 2, 4)
            await stores.responses.put(StoredResponse("resp_1", "ci-bot", b'{"id":"resp_1"}', b"[]"))
            return key

    async def read(key: str) -> None:
        async with await shared_backend.open() as stores:
            record = await stores.keys.lookup(key)
            assert record is not None and record.limits.models == ("deepseek-*",)
            totals = await stores.usage.totals("ci-bot")
            assert (totals.requests, totals.tokens) == (1, 10)
            account = await stores.accounts.get("acct-1")
            assert account is not None and (account.token, account.mute_until) == (
                "refreshed-token-abcdef",
                2e9,
            )
            assert await stores.conversations.follow("s-1", 2) == 4
            stored = await stores.responses.get("resp_1", "ci-bot")
            assert stored is not None and stored.body == b'{"id":"resp_1"}'

    key = asyncio.run(write())
    asyncio.run(read(key))
