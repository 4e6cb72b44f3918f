"""Processes starting together (``serve --workers``, two servers) create the data directory at once."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

from deepseek_free_api.stores.sqlite_file import Database, create_private_file


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


def test_many_processes_opening_a_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    # Before: the switch to WAL mode of a new file met another opener's lock and failed with
    # "database is locked" at once (SQLite does not wait on that one), so one of two servers
    # started together (serve --workers) exited.
    failures: list[BaseException] = []
    for round_ in range(10):
        path = tmp_path / f"round-{round_}" / "state.sqlite3"
        start = threading.Barrier(8)
        opened: list[Database] = []

        def open_it(
            path: Path = path, start: threading.Barrier = start, opened: list[Database] = opened
        ) -> None:
            start.wait()
            try:
                opened.append(Database(path))
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                failures.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for database in opened:
            database.close()
    assert failures == []
