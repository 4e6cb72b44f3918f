"""A process that takes reusable sessions from a shared store (run by test_reuse).

``python -m tests.stores.taker URL DATA_DIR MARKER_DIR COUNT`` opens the store, waits for
``MARKER_DIR/go``, then takes ``k0`` ... ``k{COUNT-1}`` in order and prints one JSON line: the
indices of the keys it got untaken (the ones it alone may go on from).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import anyio
import orjson

from deepseek_free_api.stores import open_stores


async def take(url: str, data_dir: str, markers: Path, count: int) -> None:
    async with await open_stores(url, data_dir) as stores:
        deadline = time.monotonic() + 60
        while not (markers / "go").exists() and time.monotonic() < deadline:
            await anyio.sleep(0.005)
        won = []
        for index in range(count):
            session = await stores.reuse.take(f"k{index}")
            assert session is not None, f"k{index} is gone"
            if not session.taken:
                won.append(index)
    print(orjson.dumps(won).decode(), flush=True)


def main() -> None:
    url, data_dir, markers, count = sys.argv[1:5]
    anyio.run(take, url, data_dir, Path(markers), int(count))


if __name__ == "__main__":
    main()
