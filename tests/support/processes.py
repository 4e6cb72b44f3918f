"""Running a documented command as a user does: its own process and session, a free port, SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from deepseek_free_api.background import free_port

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "deepseek_free_api"]
# Variables of the developer's shell that would change what the commands do.
_SCRUBBED = (
    "HOST",
    "PORT",
    "API_KEYS",
    "DEEP_SEEK_CHAT_AUTHORIZATION",
    "DEEPSEEK_BASE_URL",
    "DEEPSEEK_TOKEN",
)


@dataclass
class Running:
    """A started command: its base URL and, once stopped, its output and exit code."""

    url: str
    process: subprocess.Popen[str]
    output: str = ""
    log_file: Path | None = None

    def logged(self) -> str:
        """What the command wrote to its ``log_file`` so far ("" without one)."""
        return self.log_file.read_text(errors="replace") if self.log_file else ""

    @property
    def stopped_gracefully(self) -> bool:
        """Exited by itself after SIGTERM (uvicorn re-raises the signal once shut down)."""
        return self.process.returncode in (0, -signal.SIGTERM)


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without the variables that configure the server, plus ``extra``.

    The state store (a SQLite file by default) goes to a new temporary directory unless ``extra``
    names one, so that no test shares or leaves state in the repository's ``./data``.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in _SCRUBBED and not name.startswith("DEEPSEEK_FREE_API_")
    }
    env["DEEPSEEK_FREE_API_SERVER_DATA_DIR"] = tempfile.mkdtemp(prefix="dsfa-data-")
    env.update(extra)
    return env


@contextmanager
def running(
    argv: list[str],
    port: int,
    *,
    env: Mapping[str, str] | None = None,
    ready_path: str = "/ping",
    log_file: Path | None = None,
    preexec_fn: Callable[[], object] | None = None,
    cwd: Path = REPO,
) -> Iterator[Running]:
    """Start ``argv`` in ``cwd``, wait until ``ready_path`` answers on ``port``, then SIGTERM it on exit.

    The output goes to ``log_file``, or to a temporary file, never to a pipe: a pipe nobody reads
    fills after a few hundred access-log lines and then blocks the server (seen at turn 250 of a
    chain test). Either way it is in ``output`` once stopped. ``preexec_fn`` runs in the child
    before ``argv`` (e.g. to lower its limits).
    """
    scratch = None
    if log_file is None:
        fd, name = tempfile.mkstemp(prefix="dsfa-test-output-", suffix=".log")
        os.close(fd)
        scratch = Path(name)
    sink: IO[str] = (log_file or scratch or Path(os.devnull)).open("w")
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(env) if env is not None else clean_env(),
        stdout=sink,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # our own process group, so nothing can outlive the test
        preexec_fn=preexec_fn,
    )
    # While it runs, ``logged()`` reads the temporary file too (failure messages show the output).
    result = Running(f"http://127.0.0.1:{port}", process, log_file=log_file or scratch)
    try:
        _wait_ready(result, ready_path)
        yield result
    finally:
        stopped = _stop(process)
        sink.close()
        result.output = result.logged()
        if scratch is not None:
            scratch.unlink(missing_ok=True)
            result.log_file = None
        assert stopped, f"{argv} did not exit within 30 s of SIGTERM:\n{result.output}"
        assert not _port_open(port), f"{argv} still listens after exiting"


@contextmanager
def demo_server() -> Iterator[Running]:
    """``deepseek-free-api serve --demo`` (what ``make demo`` runs) on a free port."""
    port = free_port()
    with running([*CLI, "serve", "--demo", "--port", str(port)], port) as server:
        yield server


def run_keys(*argv: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """``deepseek-free-api keys ARGV...`` as a user runs it, to its end."""
    command = [*CLI, "keys", *argv]
    return subprocess.run(
        command, cwd=REPO, env=dict(env), capture_output=True, text=True, timeout=60, check=False
    )


def _wait_ready(result: Running, path: str) -> None:
    for _ in range(600):  # 60 s at most: the first start also loads the tokenizer
        if result.process.poll() is not None:
            result.output = result.process.communicate()[0] or result.logged()
            pytest.fail(f"exited with {result.process.returncode} before serving:\n{result.output}")
        try:
            httpx.get(result.url + path, timeout=2)
            return
        except httpx.TransportError:
            try:
                result.process.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                pass
    pytest.fail(f"{result.url}{path} never answered")


def _stop(process: subprocess.Popen[str]) -> bool:
    """SIGTERM the command itself (as a supervisor would); True if it exited in time."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
        return True
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # clean up; the caller reports the failure
        process.wait(timeout=10)
        return False


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def rss_mb(pid: int) -> float:
    """The process's resident memory now (``VmRSS``), in MB."""
    return _status_mb(pid, "VmRSS")


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (``VmHWM``), in MB."""
    return _status_mb(pid, "VmHWM")


def _status_mb(pid: int, name: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {name} in /proc/{pid}/status")


def serve_one_account(upstream_url: str, data_dir: Path, port: int, *, token: str, api_key: str) -> Any:
    """``serve`` on ``port`` with one server account in front of ``upstream_url`` (the simulator)."""
    env = clean_env(
        DEEPSEEK_FREE_API_SERVER_DATA_DIR=str(data_dir),
        DEEPSEEK_FREE_API_UPSTREAM_BASE_URL=upstream_url,
        DEEP_SEEK_CHAT_AUTHORIZATION=token,  # one account: each request needs it back
        API_KEYS=api_key,
    )
    return running([*CLI, "serve", "--port", str(port)], port, env=env)


def ask_chat(url: str, content: str, *, api_key: str, timeout: float = 60) -> httpx.Response:
    """One non-streamed OpenAI chat request with ``content`` as the user's message."""
    return httpx.post(
        url + "/v1/chat/completions",
        json={"model": "deepseek-chat", "messages": [{"role": "user", "content": content}]},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=timeout,
    )
