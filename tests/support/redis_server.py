"""A real ``redis-server`` for tests: a free port, a temporary directory, no persistence, stopped after.

Under ``CI=true`` a test that needs Redis fails when the server cannot be started (``.ci/run``
installs it); elsewhere it is skipped with the reason printed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from deepseek_free_api.background import free_port


def unavailable(reason: str) -> None:
    """Fail under CI, skip (with ``reason``) elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Redis is required under CI=true: {reason}")
    pytest.skip(f"needs a real redis-server: {reason} (apt-get install redis-server)")


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    """Run ``redis-server`` on a free loopback port; yields ``redis://127.0.0.1:PORT``."""
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not on PATH")
        raise AssertionError("unreachable")
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)]
    argv += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
    argv += ["--logfile", str(directory / "redis.log")]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                log = directory / "redis.log"
                unavailable(f"redis-server did not start: {log.read_text()[-500:] if log.exists() else ''}")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
