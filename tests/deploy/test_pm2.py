"""deploy/ecosystem.config.cjs under a real PM2, with the console script of the fresh install.

PM2 comes from the npm registry (pinned), installed once into .agents/pm2 (ignored by git, like
the coding agents); when it cannot be installed the test is skipped with the reason, and under
CI=true it fails. Its daemon lives in a temporary PM2_HOME and is killed at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deepseek_free_api.background import BackgroundServer, free_port
from tests.api.conftest import API_KEY, TOKENS
from tests.deploy.conftest import Installed, needed
from tests.deploy.dockerfile import REPO
from tests.support.processes import clean_env

PM2_SPEC = "pm2@7.0.4"
PREFIX = REPO / ".agents" / "pm2"
ECOSYSTEM = REPO / "deploy" / "ecosystem.config.cjs"
APP = "deepseek-free-api"


@pytest.fixture(scope="module")
def pm2() -> Path:
    """The pm2 command, installed from npm into .agents/pm2 unless that pin is already there."""
    binary = PREFIX / "node_modules" / ".bin" / "pm2"
    pinned = PREFIX / ".pinned"
    if binary.exists() and pinned.exists() and pinned.read_text().strip() == PM2_SPEC:
        return binary
    npm = shutil.which("npm")
    if npm is None:
        needed("npm is not on PATH, so PM2 cannot be installed")
    shutil.rmtree(PREFIX, ignore_errors=True)
    command = [str(npm), "install", "--prefix", str(PREFIX), "--no-audit", "--no-fund", "--loglevel=error"]
    command.append(PM2_SPEC)
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired:
        needed(f"`npm install {PM2_SPEC}` did not finish within 300 s")
    if result.returncode != 0 or not binary.exists():
        needed(f"`npm install {PM2_SPEC}` failed (exit {result.returncode}): {result.stderr[-1500:]}")
    pinned.write_text(PM2_SPEC + "\n")
    return binary


class Pm2:
    """pm2 commands against one private daemon."""

    def __init__(self, binary: Path, env: dict[str, str]) -> None:
        self.binary = binary
        self.env = env

    def __call__(self, *args: str) -> str:
        argv = [str(self.binary), *args]
        result = subprocess.run(
            argv, env=self.env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, f"pm2 {' '.join(args)}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
        return result.stdout

    def apps(self) -> list[dict[str, object]]:
        listed: list[dict[str, object]] = json.loads(self("jlist"))
        return listed

    def daemon_pid(self) -> int | None:
        path = Path(self.env["PM2_HOME"]) / "pm2.pid"
        return int(path.read_text()) if path.exists() else None


@pytest.fixture
def daemon(pm2: Path, installed: Installed, simulator: BackgroundServer) -> Iterator[tuple[Pm2, int]]:
    home = Path(os.environ.get("TMPDIR", "/tmp")) / f"pm2-{os.getpid()}-{free_port()}"  # short: sockets
    home.mkdir()
    data = home / "data"
    port = free_port()
    node = shutil.which("node")
    paths = [str(installed.bin), str(Path(node).parent) if node else "", os.environ.get("PATH", "")]
    env = clean_env(
        PATH=os.pathsep.join(path for path in paths if path),
        PM2_HOME=str(home),
        # What a user exports before `pm2 start` (README); PM2 hands it to the server.
        API_KEYS=API_KEY,
        DEEP_SEEK_CHAT_AUTHORIZATION=",".join(TOKENS),
        DEEPSEEK_BASE_URL=simulator.url,
        DEEPSEEK_FREE_API_SERVER_PORT=str(port),
        DEEPSEEK_FREE_API_SERVER_DATA_DIR=str(data),
    )
    client = Pm2(pm2, env)
    try:
        yield client, port
    finally:
        pid = client.daemon_pid()
        subprocess.run([str(pm2), "kill"], env=env, capture_output=True, timeout=60, check=False)
        if pid is not None and _alive(pid):  # never leave a daemon behind
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(home, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 60  # the first start also loads the tokenizer
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=2).json() == {"status": "ok"}:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url}/healthz never answered under PM2")


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_pm2_start_serves_and_stop_ends_it_cleanly(daemon: tuple[Pm2, int]) -> None:
    pm2, port = daemon
    pm2("start", str(ECOSYSTEM))
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(url)
    (app,) = pm2.apps()
    assert app["name"] == APP
    pid = int(str(app["pid"]))
    body = {"model": "deepseek-chat", "messages": [{"role": "user", "content": "under pm2"}]}
    reply = httpx.post(
        url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60
    )
    assert reply.json()["choices"][0]["message"]["content"].startswith("Echo: under pm2")

    started = time.monotonic()
    pm2("stop", APP)
    stopped_in = time.monotonic() - started
    (app,) = pm2.apps()
    assert app["pm2_env"]["status"] == "stopped"  # type: ignore[index]
    assert not _alive(pid) and not _listening(port)
    logs = Path(pm2.env["PM2_HOME"])
    daemon_log = (logs / "pm2.log").read_text()
    server_log = "".join(path.read_text() for path in (logs / "logs").glob(f"{APP}-*.log"))
    # It ran its shutdown (generations stopped, streams ended) and exited by itself: PM2 did not
    # have to kill it, and did not restart it.
    assert "Application shutdown complete" in server_log, server_log
    assert "Traceback" not in server_log, server_log  # PM2's SIGINT is a quiet stop, like SIGTERM
    assert "SIGKILL" not in daemon_log, daemon_log
    assert stopped_in < 30, stopped_in
    time.sleep(1.5)  # longer than any restart delay: a stopped app stays stopped
    assert not _listening(port)

    pm2("delete", APP)
    assert pm2.apps() == []
