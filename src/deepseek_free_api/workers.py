"""``serve --workers N``: N server processes on one listening socket, sharing one state store.

The supervisor binds the socket once and starts N ``serve`` processes that inherit it; the kernel
spreads connections over them. What makes them one server is the state store (SQLite file or
Redis): account leases, account state, service keys and usage. With ``store.url = memory://``
every process would lease the same accounts on its own, so that is refused. A worker that dies
(a crash, SIGKILL) is started again, and the leases it held free within ``pool.lease_ttl_s``;
one that fails at start stops the whole server with its exit code. SIGTERM or SIGINT stops
every worker gracefully (each stops its in-flight generations first).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from types import FrameType

from uvicorn.config import STARTUP_FAILURE

from deepseek_free_api.config import Settings
from deepseek_free_api.net.server import claim_port, close_all, port_problem
from deepseek_free_api.stores import StoreError, parse_store_url

log = logging.getLogger("deepseek_free_api.workers")

# A worker that exits this soon after its start failed to start: restarting it would only loop.
START_GRACE_S = 5.0
STOP_TIMEOUT_S = 30.0
_POLL_S = 0.2


def refusal(settings: Settings, workers: int) -> str | None:
    """Why ``workers`` processes cannot share these settings, or None."""
    if workers < 1:
        return "--workers must be at least 1"
    if settings.demo:
        return "--demo runs one process with its own simulator; --workers needs a real store and accounts"
    try:
        location = parse_store_url(settings.store.url, settings.server.data_dir)
    except StoreError as exc:
        return str(exc)
    if not location.shared:
        return (
            f"--workers {workers} needs a store the processes share, and store.url is memory:// (each "
            "process would lease the same accounts on its own); use the default SQLite file "
            "(store.url empty or sqlite:///PATH) or redis://HOST:PORT/DB"
        )
    return None


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    started: float


class Supervisor:
    """Starts, watches and stops the worker processes."""

    def __init__(self, argv: list[str], workers: int, sock_fds: list[int]) -> None:
        self._argv = [*argv]
        for fd in sock_fds:
            self._argv += ["--worker-fd", str(fd)]
        self._count = workers
        self._fds = tuple(sock_fds)
        self._stopping = False
        self._workers: list[_Worker] = []

    def _spawn(self) -> _Worker:
        process = subprocess.Popen(self._argv, pass_fds=self._fds)
        log.info("started worker process %d", process.pid)
        return _Worker(process, time.monotonic())

    def _stop(self, sig: int, frame: FrameType | None) -> None:
        self._stopping = True

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; returns the exit code."""
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self._workers = [self._spawn() for _ in range(self._count)]
            code = self._watch()
        finally:
            self._shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return code

    def _watch(self) -> int:
        while not self._stopping:
            time.sleep(_POLL_S)
            for index, worker in enumerate(self._workers):
                code = worker.process.poll()
                if code is None or self._stopping:
                    continue
                if time.monotonic() - worker.started < START_GRACE_S and code != 0:
                    log.error("worker %d exited with %d at start; stopping", worker.process.pid, code)
                    return code if code > 0 else 1
                log.warning("worker %d exited with %d; starting another", worker.process.pid, code)
                self._workers[index] = self._spawn()
        return 0

    def _shutdown(self) -> None:
        for worker in self._workers:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for worker in self._workers:
            try:
                worker.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error(
                    "worker %d did not stop within %g s; killing it", worker.process.pid, STOP_TIMEOUT_S
                )
                worker.process.kill()
                worker.process.wait()


def supervise(settings: Settings, workers: int, *, config: str | None, log_format: str | None = None) -> int:
    """Run ``workers`` server processes on the configured host and port; returns the exit code."""
    problem = refusal(settings, workers)
    if problem is not None:
        print(f"deepseek-free-api: {problem}", file=sys.stderr)
        return 2
    listen = settings.server
    try:
        claimed = claim_port(listen.host, listen.port)  # the workers inherit it and accept on it
    except OSError as exc:
        print(f"deepseek-free-api: {port_problem(listen.host, listen.port, exc)}", file=sys.stderr)
        return STARTUP_FAILURE
    for sock in claimed:  # one per address of the host (e.g. ::1 and 127.0.0.1 for localhost)
        sock.set_inheritable(True)
    argv = [sys.executable, "-m", "deepseek_free_api", "serve"]
    argv += ["--host", settings.server.host, "--port", str(settings.server.port)]
    if config is not None:
        argv += ["--config", config]
    if log_format is not None:
        argv += ["--log-format", log_format]
    where = parse_store_url(settings.store.url, settings.server.data_dir).describe()  # password masked
    log.info("serving with %d worker processes sharing the state store: %s", workers, where)
    try:
        return Supervisor(argv, workers, [sock.fileno() for sock in claimed]).run()
    finally:
        close_all(claimed)
