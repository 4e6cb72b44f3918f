"""Processes a test's program left behind: found by the private HOME the test gave it, and stopped.

Some agents start a daemon of their own in a new session (Cline's CLI starts
``cline --cline-hub-daemon``), so neither the process group nor the session of the command the
test ran holds it, and it outlives the test: one was found still running 100 minutes after the
test that started it. Every process of such a test has the test's private ``HOME`` in its
environment (``run_agent`` sets it; children inherit it), so that is how they are found.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def processes_with_home(home: Path) -> list[int]:
    """The pids of this user's living processes (not zombies) whose environment has ``HOME=<home>``."""
    wanted = b"HOME=" + os.fsencode(home)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or not ours to read
            continue
        if wanted in environ.split(b"\0") and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def stop_processes_with_home(home: Path, grace_s: float = 3.0) -> list[int]:
    """SIGTERM every process with ``HOME=<home>``, SIGKILL what is left after ``grace_s``; their pids.

    Found again until none is left (a process may start another while it is being stopped), for at
    most ``grace_s`` more after the SIGKILLs.
    """
    stopped: list[int] = []
    deadline = time.monotonic() + grace_s
    number = signal.SIGTERM
    while True:
        living = processes_with_home(home)
        if not living:
            return stopped
        if time.monotonic() >= deadline:
            if number == signal.SIGKILL:
                return stopped  # what SIGKILL did not end: the caller sees it in processes_with_home
            number, deadline = signal.SIGKILL, time.monotonic() + grace_s
        for pid in living:
            if pid not in stopped or number == signal.SIGKILL:
                _signal(pid, number)
            if pid not in stopped:
                stopped.append(pid)
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; its parent (not us) has yet to reap it


def _signal(pid: int, number: int) -> None:
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        pass
