"""Real coding agents (installed from npm by tests/agents/install.sh) against the real server.

Each test starts the simulator and the server on loopback sockets, with scripted DeepSeek replies
that carry the agent's own tool call in DSML markup, then runs the agent headless in a private
HOME and working directory. Every request the agent sends is recorded (credentials blanked), and
a failing assertion prints those requests, the prompts the simulator received and the agent's
output, so a failure can be traced to the server without running it again.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from deepseek_free_api.app import create_app
from deepseek_free_api.background import BackgroundServer
from deepseek_free_api.config import load_settings
from deepseek_free_api.simulator import create_app as create_simulator
from tests.api.conftest import API_KEY, TOKENS, simulator_config
from tests.support.leftovers import processes_with_home, stop_processes_with_home

ROOT = Path(__file__).resolve().parents[2]
AGENTS = ROOT / ".agents"  # filled by tests/agents/install.sh (`make agents`), ignored by git
AGENT_TIMEOUT_S = 90  # one agent run, inside pytest's 120 s: a hung agent fails, CI goes on
_SECRET_HEADERS = {"authorization", "x-api-key", "cookie"}


def agent_binary(name: str, command: str) -> Path:
    """The installed agent's executable; else a skip that says why, or under ``CI=true`` a failure."""
    path = AGENTS / name / "node_modules" / ".bin" / command
    if path.exists():
        return path
    failed = AGENTS / f"{name}.failed"
    if failed.exists():
        reason = f"{name} could not be installed from npm: {failed.read_text().strip()[-600:]}"
    else:
        reason = f"{name} is not installed in {AGENTS}: run `make agents` (tests/agents/install.sh)"
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"CI=true: the real-agent tests must run, not skip; {reason}")
    pytest.skip(reason)


@dataclass
class Exchange:
    """One request the agent sent and the status it got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0

    def describe(self) -> str:
        try:
            shown = json.dumps(json.loads(self.body), ensure_ascii=False)
        except ValueError:
            shown = self.body.decode(errors="replace")
        if len(shown) > 4000:
            shown = shown[:2000] + f" …[{len(shown) - 4000} chars]… " + shown[-2000:]
        return f"{self.method} {self.path} -> {self.status}\n  headers: {self.headers}\n  body: {shown}"


class Recorder:
    """ASGI middleware that keeps every HTTP request (body included) and its status."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.exchanges: list[Exchange] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {
            k.decode(): ("***" if k.decode().lower() in _SECRET_HEADERS else v.decode())
            for k, v in scope["headers"]
        }
        query = scope.get("query_string", b"").decode()
        path = scope["path"] + (f"?{query}" if query else "")
        exchange = Exchange(scope["method"], path, headers, b"")
        self.exchanges.append(exchange)

        async def recording_receive() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                exchange.body += message.get("body", b"")
            return message

        async def recording_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
            await send(message)

        await self.app(scope, recording_receive, recording_send)


@dataclass
class AgentStack:
    """Simulator + server (behind a Recorder) for one agent test, and the agent's last run."""

    simulator: BackgroundServer
    server: BackgroundServer
    recorder: Recorder
    home: Path
    workdir: Path
    runs: list[subprocess.CompletedProcess[str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def run(self, argv: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """Run the agent in the private working directory, bounded in time, stdin closed."""
        result = run_agent(argv, env, self.home, self.workdir)
        self.runs.append(result)
        return result

    def report(self) -> str:
        """Everything needed to find the cause of a failure: requests, prompts, agent output."""
        lines = ["", "=== requests the agent sent to the server ==="]
        lines += [exchange.describe() for exchange in self.recorder.exchanges]
        lines.append("=== prompts the simulator received ===")
        try:
            sent = self.simulator_requests()
        except Exception as exc:  # the report must not hide the original failure
            sent = [{"error": repr(exc)}]
        for item in sent:
            prompt = str(item.get("prompt", ""))
            lines.append(f"{item.get('path')}: {prompt[:300]!r} … {prompt[-1500:]!r}")
        for result in self.runs:
            lines.append(f"=== agent exit {result.returncode}: {' '.join(result.args[:2])} ===")
            lines.append("stdout: " + result.stdout[-4000:])
            lines.append("stderr: " + result.stderr[-4000:])
        return "\n".join(lines)

    def simulator_requests(self) -> list[dict[str, Any]]:
        """The simulator's record of the chat completions the server sent it."""
        response = httpx.get(self.simulator.url + "/_sim/requests", timeout=10)
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["requests"]
        return [item for item in items if item["path"].endswith("/chat/completion")]


def run_agent(
    argv: Sequence[str], env: dict[str, str], home: Path, workdir: Path
) -> subprocess.CompletedProcess[str]:
    """Run an agent in ``workdir`` with a private ``home``, bounded in time, stdin closed."""
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "TMPDIR": str(home / "tmp"),
        "NO_COLOR": "1",
        "CI": "1",
        **env,
    }
    (home / "tmp").mkdir(exist_ok=True)
    try:
        return subprocess.run(
            list(argv),
            cwd=workdir,
            env=full_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=AGENT_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        err = _text(exc.stderr) + f"\n[killed after {AGENT_TIMEOUT_S}s]"
        return subprocess.CompletedProcess(list(argv), -9, _text(exc.stdout), err)


def claude_env(base_url: str, key: str) -> dict[str, str]:
    """The environment the README gives Claude Code (base URL without /v1)."""
    return {
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": key,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    }


def codex_home(home: Path, base_url: str) -> Path:
    """A private CODEX_HOME whose provider is the server, as the README configures it."""
    path = home / ".codex"
    path.mkdir(exist_ok=True)
    (path / "config.toml").write_text(
        'model_provider = "deepseek-free-api"\n'
        "check_for_update_on_startup = false\n"
        "[analytics]\nenabled = false\n"
        "[model_providers.deepseek-free-api]\n"
        'name = "deepseek-free-api"\n'
        f'base_url = "{base_url}/v1"\n'
        'wire_api = "responses"\n'
        'env_key = "DEEPSEEK_FREE_API_KEY"\n'
    )
    return path


def _text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def start_agent_stack(
    scripts: list[dict[str, Any]], tmp_path: Path, **overrides: Any
) -> Iterator[AgentStack]:
    """The simulator with ``scripts``, the server in front of it, a private HOME and workdir."""
    home, workdir = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    workdir.mkdir()
    with BackgroundServer(create_simulator(simulator_config(scripts=scripts))) as simulator:
        options: dict[str, Any] = {
            "base_url": simulator.url,
            "tokens": list(TOKENS),
            "api_keys": [API_KEY],
            "keepalive_interval_s": 5.0,
            "min_interval_s": 0.0,
            "store.url": "memory://",
        }
        options.update(overrides)
        recorder = Recorder(create_app(load_settings(overrides=options, env={})))
        try:
            with BackgroundServer(recorder) as server:
                yield AgentStack(simulator, server, recorder, home, workdir)
        finally:
            # What the agent started and left running (Cline's hub daemon, in its own session).
            stop_processes_with_home(home)
            assert not processes_with_home(home), "the agent's processes outlived SIGKILL"
