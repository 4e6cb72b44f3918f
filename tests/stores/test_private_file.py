"""Processes starting together (``serve --workers``, two servers) create the data directory at once."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

from deepseek_free_api.stores.sqlite_file import create_private_file


def test_many_creators_at_once_all_succeed_and_the_directory_stays_private(tmp_path: Path) -> None:
    # Before: each checked that the directory was missing, then made it; all but the first of
    # those that looked at the same moment failed with FileExistsError.
    failures: list[BaseException] = []
    for round_ in range(20):
        path = tmp_path / f"round-{round_}" / "data" / "state.sqlite3"
        start = threading.Barrier(16)

        def create(path: Path = path, start: threading.Barrier = start) -> None:
            start.wait()
            try:
                create_private_file(path)
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                failures.append(exc)

        threads = [threading.Thread(target=create) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert failures == []
