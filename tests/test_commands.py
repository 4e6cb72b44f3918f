"""Every documented command and make target, as a user runs it: its own process, a free port, HTTP.

Each test starts the command, talks to it, sends SIGTERM (what a terminal close, ``docker stop``
or systemd sends) and checks that it exits and frees its port.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deepseek_free_api import __version__
from deepseek_free_api.background import BackgroundServer, free_port
from deepseek_free_api.simulator import SimulatorConfig, create_app
from tests.support.processes import CLI, REPO, clean_env, running


def chat(url: str, key: str | None, content: str = "hello", model: str = "deepseek-chat") -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=60)


def answer(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    content: str = response.json()["choices"][0]["message"]["content"]
    return content


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    """A simulator for the non-demo commands to use as DeepSeek."""
    config = SimulatorConfig.demo().with_changes(difficulty=64)
    with BackgroundServer(create_app(config)) as simulator:
        yield simulator.url


def make_available() -> None:
    if shutil.which("make") is None or not (REPO / ".venv" / "bin" / "deepseek-free-api").exists():
        pytest.skip("the make targets need `make` and the project's .venv (created by `make test`)")


# ---- deepseek-free-api serve ------------------------------------------------------------------


def test_serve_with_accounts_and_a_key_from_the_environment(upstream: str) -> None:
    port = free_port()
    env = clean_env(
        DEEP_SEEK_CHAT_AUTHORIZATION="demo-token-1", API_KEYS="sk-cmd-key", DEEPSEEK_BASE_URL=upstream
    )
    with running([*CLI, "serve", "--port", str(port)], port, env=env) as server:
        assert httpx.get(server.url + "/ping").text == "pong"
        assert answer(chat(server.url, "sk-cmd-key", "hello serve")).startswith("Echo: hello serve")
        assert chat(server.url, None).status_code == 401
    assert server.stopped_gracefully
    assert "sk-cmd-key" not in server.output


def test_serve_with_a_config_file_uses_its_port_and_settings(upstream: str, tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(
        f'[server]\nport = {port}\n[upstream]\nbase_url = "{upstream}"\n'
        '[auth]\napi_keys = ["sk-file-key"]\n[[accounts]]\ntoken = "demo-token-2"\n'
    )
    with running([*CLI, "serve", "--config", str(config)], port) as server:
        assert answer(chat(server.url, "sk-file-key", "from file")).startswith("Echo: from file")
    assert server.stopped_gracefully


def test_serve_demo_answers_with_the_readme_key_and_without_a_key() -> None:
    port = free_port()
    with running([*CLI, "serve", "--demo", "--port", str(port)], port) as server:
        assert answer(chat(server.url, "sk-my-service-key", "with key")).startswith("Echo: with key")
        assert answer(chat(server.url, None, "no key")).startswith("Echo: no key")
    assert server.stopped_gracefully
    assert "DEMO MODE" in server.output and "sk-my-service-key" in server.output


def test_a_bad_config_file_is_a_clear_error_and_exit_code_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[server]\nprot = 1\n")
    done = subprocess.run(
        [*CLI, "serve", "--config", str(config)], env=clean_env(), capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "server.prot" in done.stderr and not done.stdout  # errors go to stderr, not the output


def test_ctrl_c_on_the_demo_exits_quietly_and_frees_the_port() -> None:
    port = free_port()
    with running([*CLI, "serve", "--demo", "--port", str(port)], port) as demo:
        assert answer(chat(demo.url, None, "before ctrl-c")).startswith("Echo: before ctrl-c")
        os.killpg(demo.process.pid, signal.SIGINT)  # what a terminal sends its foreground group on Ctrl-C
        demo.process.wait(20)
    # (``running`` has checked that the port is free again.)
    assert demo.process.returncode == 0, demo.output
    assert "Traceback" not in demo.output and "KeyboardInterrupt" not in demo.output, demo.output
    assert "Finished server process" in demo.output


@pytest.mark.parametrize("demo", [[], ["--demo"]], ids=["serve", "serve --demo"])
def test_a_port_in_use_is_one_clear_line_before_any_banner_or_start(demo: list[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*CLI, "serve", *demo, "--port", str(port)],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode != 0
    assert "DEMO MODE" not in done.stdout and not done.stdout  # no banner for a server that never ran
    # Nothing started and logged before (settings warnings aside): the one line says what is wrong.
    said = [line for line in done.stderr.splitlines() if "WARNING" not in line]
    assert said == [
        f"deepseek-free-api: cannot listen on 127.0.0.1:{port}: the port is in use (another server?); "
        "choose another with --port"
    ], done.stderr


def test_version_prints_the_package_version() -> None:
    done = subprocess.run([*CLI, "--version"], env=clean_env(), capture_output=True, text=True)
    assert done.returncode == 0
    assert done.stdout.strip() == f"deepseek-free-api {__version__}"


# ---- deepseek-free-api simulate ---------------------------------------------------------------


def _current_user(url: str, token: str) -> int:
    response = httpx.get(url + "/api/v0/users/current", headers={"Authorization": f"Bearer {token}"})
    code: int = response.json()["code"]
    return code


def test_simulate_serves_the_shipped_demo() -> None:
    port = free_port()
    argv = [*CLI, "simulate", "--port", str(port)]
    with running(argv, port, ready_path="/_sim/state") as simulator:
        assert _current_user(simulator.url, "demo-token-1") == 0
        assert _current_user(simulator.url, "not-a-demo-token") == 40003
    assert simulator.stopped_gracefully


def test_simulate_with_a_config_file(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "sim.toml"
    config.write_text('difficulty = 64\n[[accounts]]\nid = "mine"\ntoken = "my-sim-token"\n')
    argv = [*CLI, "simulate", "--port", str(port), "--config", str(config)]
    with running(argv, port, ready_path="/_sim/state") as simulator:
        assert _current_user(simulator.url, "my-sim-token") == 0
        assert _current_user(simulator.url, "demo-token-1") == 40003
        accounts = httpx.get(simulator.url + "/_sim/state").json()["accounts"]
        assert "mine" in str(accounts)
    assert simulator.stopped_gracefully


def test_simulate_with_a_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    argv = [*CLI, "simulate", "--config", str(tmp_path / "nope.toml")]
    done = subprocess.run(argv, env=clean_env(), capture_output=True, text=True)
    assert done.returncode == 2
    assert "nope.toml" in done.stderr


# ---- make serve / make demo -------------------------------------------------------------------


def test_make_serve_keeps_the_port_and_host_from_the_environment(upstream: str) -> None:
    make_available()
    port = free_port()
    env = clean_env(
        DEEPSEEK_FREE_API_SERVER_PORT=str(port),
        DEEPSEEK_FREE_API_SERVER_HOST="127.0.0.1",
        DEEP_SEEK_CHAT_AUTHORIZATION="demo-token-3",
        API_KEYS="sk-make-key",
        DEEPSEEK_BASE_URL=upstream,
        HOST="some-machine-name",  # exported by some shells; must not become --host
    )
    with running(["make", "-s", "serve"], port, env=env) as server:
        assert answer(chat(server.url, "sk-make-key", "via make")).startswith("Echo: via make")


def test_make_demo_keeps_the_port_from_the_config_file(tmp_path: Path) -> None:
    make_available()
    port = free_port()
    config = tmp_path / "demo.toml"
    config.write_text(f"[server]\nport = {port}\n")
    with running(["make", "-s", "demo", f"ARGS=--config {config}"], port) as server:
        assert answer(chat(server.url, "sk-my-service-key", "make demo")).startswith("Echo: make demo")
    assert "DEMO MODE" in server.output


def test_make_demo_passes_port_given_on_the_command_line() -> None:
    make_available()
    port = free_port()
    with running(["make", "-s", "demo", f"PORT={port}"], port) as server:
        assert httpx.get(server.url + "/v1/models").status_code == 200
