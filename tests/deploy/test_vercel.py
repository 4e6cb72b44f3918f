"""vercel.json and api/index.py: the entry loaded as Vercel's Python runtime loads it, then used.

The fresh install of the wheel stands in for Vercel's build (which installs the project with
``uv sync --no-editable``); tests/deploy/vercel_loader.py does what the runtime does with the entry
file; the process runs as an unprivileged user in a directory it cannot write, as on Vercel's
read-only file system. Not reproduced: Vercel's proxy, its duration limit, cold starts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from deepseek_free_api.background import BackgroundServer, free_port
from tests.api.conftest import API_KEY, TOKENS
from tests.deploy.conftest import Installed
from tests.deploy.dockerfile import REPO
from tests.support.processes import clean_env, running

ENTRY = REPO / "api" / "index.py"
LOADER = Path(__file__).resolve().parent / "vercel_loader.py"
UNPRIVILEGED_UID = 65534


def vercel_config() -> dict[str, object]:
    config: dict[str, object] = json.loads((REPO / "vercel.json").read_text(encoding="utf-8"))
    return config


def entry_values(**env: str) -> dict[str, float]:
    """Run api/index.py in a fresh interpreter with ``env`` as the project's environment variables."""
    code = (
        f"import json, runpy; entry = runpy.run_path({str(ENTRY)!r}); "
        "print(json.dumps({'max_duration': entry['MAX_DURATION_S'], "
        "'request_timeout': entry['settings'].server.request_timeout_s}))"
    )
    argv, environment = [sys.executable, "-c", code], clean_env(**env)
    result = subprocess.run(argv, env=environment, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    values: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return values


def test_vercel_routes_every_path_to_the_entry_within_a_duration_it_allows() -> None:
    config = vercel_config()
    functions = config["functions"]
    assert isinstance(functions, dict) and list(functions) == ["api/index.py"]
    assert (REPO / "api" / "index.py").exists()
    # 300 s is the most a Hobby plan allows (Pro and Enterprise: 800 s), with Fluid compute.
    assert functions["api/index.py"]["maxDuration"] <= 300
    assert config["rewrites"] == [{"source": "/(.*)", "destination": "/api/index"}]


def test_requests_end_before_vercel_stops_the_function() -> None:
    # The server's own timeout must come first: it stops DeepSeek's generation and frees the
    # account, where Vercel's kill would leave both running.
    values = entry_values()
    max_duration = vercel_config()["functions"]["api/index.py"]["maxDuration"]  # type: ignore[index]
    assert values["max_duration"] == max_duration
    assert values["request_timeout"] < max_duration
    # ... unless the project says otherwise.
    assert entry_values(DEEPSEEK_FREE_API_SERVER_REQUEST_TIMEOUT_S="100")["request_timeout"] == 100


def test_only_the_entry_builds_at_import() -> None:
    # A bad setting fails the entry's import (naming it), while the package imports without
    # reading any setting (nothing runs at import, STYLE.md convention 2).
    env = clean_env(DEEPSEEK_FREE_API_SERVER_PORT="0")
    package = [sys.executable, "-c", "import deepseek_free_api.app, deepseek_free_api.config"]
    assert subprocess.run(package, env=env, capture_output=True, timeout=60, check=False).returncode == 0
    entry = [sys.executable, "-c", f"import runpy; runpy.run_path({str(ENTRY)!r})"]
    result = subprocess.run(entry, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0 and "server.port" in result.stderr


def test_the_entry_serves_a_streamed_chat_as_the_runtime_loads_it(
    installed: Installed, simulator: BackgroundServer, scratch: Callable[[str], Path]
) -> None:
    port = free_port()
    task = scratch("deepseek-free-api-vercel-")  # /var/task: read-only for the function
    env = clean_env(
        PATH=installed.path_env(),
        HOME=str(task),
        # The project's environment variables on Vercel (the simulator stands in for DeepSeek).
        API_KEYS=API_KEY,
        DEEP_SEEK_CHAT_AUTHORIZATION=",".join(TOKENS),
        DEEPSEEK_BASE_URL=simulator.url,
    )
    loader = [str(installed.bin / "python"), str(LOADER), str(ENTRY), str(port)]
    argv = installed.as_user(loader, UNPRIVILEGED_UID)
    with running(argv, port, env=env, ready_path="/healthz", cwd=task) as function:
        assert httpx.get(function.url + "/healthz", timeout=10).json() == {"status": "ok"}
        chat = function.url + "/v1/chat/completions"
        messages = [{"role": "user", "content": "on vercel"}]
        body = {"model": "deepseek-chat", "messages": messages, "stream": True}
        assert httpx.post(chat, json=body, timeout=30).status_code == 401  # no anonymous callers
        headers = {"Authorization": f"Bearer {API_KEY}"}
        chunks: list[str] = []
        with httpx.stream("POST", chat, json=body, headers=headers, timeout=60) as reply:
            assert reply.status_code == 200
            assert reply.headers["content-type"].startswith("text/event-stream")
            for line in reply.iter_lines():
                if line.startswith("data: {"):
                    chunks.append(json.loads(line[6:])["choices"][0]["delta"].get("content") or "")
                elif line == "data: [DONE]":
                    chunks.append("[DONE]")
    assert chunks[-1] == "[DONE]" and "".join(chunks[:-1]).startswith("Echo: on vercel")
    assert function.stopped_gracefully, function.output
    assert "Traceback" not in function.output, function.output
