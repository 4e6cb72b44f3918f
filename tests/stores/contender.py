"""A process that leases one account over and over through a shared store (run by test_processes).

``python -m tests.stores.contender URL DATA_DIR MARKER_DIR ROUNDS`` waits for ``MARKER_DIR/go``,
then, ROUNDS times: leases account ``shared``, creates ``MARKER_DIR/held`` exclusively while it
holds the lease (an existing file means another process holds it too: a violation), releases.
Prints one JSON line: how many leases it got and how many violations it saw.
``... URL DATA_DIR MARKER_DIR crash`` leases the account, notes a generation, says ``held`` and
sleeps until killed.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import anyio
import orjson

from deepseek_free_api.stores import open_stores

HOLD_S = 0.01
CRASH_TTL_S = 2.0


async def contend(url: str, data_dir: str, markers: Path, rounds: int) -> None:
    owner = f"pid:{os.getpid()}"
    while not (markers / "go").exists():
        await anyio.sleep(0.01)
    acquired = violations = 0
    async with await open_stores(url, data_dir) as stores:
        seen = await stores.leases.wait_released(-1, 0)
        deadline = time.monotonic() + 180  # a loaded shared machine: ROUNDS may take long, never overlap
        while acquired < rounds and time.monotonic() < deadline:
            lease = await stores.leases.acquire(["shared"], owner, 30)
            if lease is None:
                seen = await stores.leases.wait_released(seen, 1.0)
                continue
            acquired += 1
            try:
                fd = os.open(markers / "held", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                violations += 1
            else:
                os.close(fd)
                await anyio.sleep(HOLD_S)
                os.remove(markers / "held")
            assert await stores.leases.release(lease)
            await anyio.sleep(0)  # let the other process have a turn now and then
    print(orjson.dumps({"acquired": acquired, "violations": violations}).decode(), flush=True)


async def crash(url: str, data_dir: str) -> None:
    stores = await open_stores(url, data_dir)
    lease = await stores.leases.acquire(["shared"], f"pid:{os.getpid()}", CRASH_TTL_S)
    assert lease is not None
    assert await stores.leases.note_generation(lease, "session-of-the-dead", 42) is not None
    print("held", lease.fence, flush=True)
    await anyio.sleep(3600)  # until SIGKILL


def main() -> None:
    url, data_dir, markers, what = sys.argv[1:5]
    if what == "crash":
        anyio.run(crash, url, data_dir)
    else:
        anyio.run(contend, url, data_dir, Path(markers), int(what))


if __name__ == "__main__":
    main()
