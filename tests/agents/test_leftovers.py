"""An agent's daemon in a session of its own does not outlive its test (Cline's hub daemon did)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.support.leftovers import processes_with_home, stop_processes_with_home


def _detached(home: Path, script: str) -> subprocess.Popen[bytes]:
    """A process in a new session (as a daemon starts itself), with ``HOME=home``."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    return subprocess.Popen(["sh", "-c", script], env=env, start_new_session=True)


def test_a_detached_process_of_the_private_home_is_stopped_and_no_other(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "home", tmp_path / "other"
    ours.mkdir()
    theirs.mkdir()
    daemon = _detached(ours, "exec sleep 300")
    stubborn = _detached(ours, "trap '' TERM; while :; do sleep 0.1; done")  # needs SIGKILL
    bystander = _detached(theirs, "exec sleep 300")
    try:
        deadline = time.monotonic() + 5
        while len(processes_with_home(ours)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert {daemon.pid, stubborn.pid} <= set(processes_with_home(ours))

        stopped = stop_processes_with_home(ours, grace_s=0.5)

        assert {daemon.pid, stubborn.pid} <= set(stopped)
        assert daemon.wait(timeout=5) is not None and stubborn.wait(timeout=5) is not None
        assert processes_with_home(ours) == []
        assert bystander.poll() is None  # another HOME's process is left alone
    finally:
        for process in (daemon, stubborn, bystander):
            process.kill()
            process.wait()
