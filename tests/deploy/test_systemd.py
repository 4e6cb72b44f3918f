"""deploy/deepseek-free-api.service: systemd's own checks, and its command run as the unit runs it.

systemd does not run as PID 1 on the test machines, so the unit is not started by systemd. What
is checked: `systemd-analyze verify` (no warning) and `systemd-analyze security --offline` (its
exposure score), then the unit's ExecStart, from the fresh install of the wheel, with the unit's
Environment= and an EnvironmentFile= as an operator writes it (which systemd lets override
Environment=, here for the port and the state directory), in a private working directory, as an
unprivileged user, stopped with its KillSignal within TimeoutStopSec.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from deepseek_free_api.background import BackgroundServer, free_port
from tests.api.conftest import API_KEY, TOKENS
from tests.deploy.conftest import Installed, private_dir
from tests.deploy.dockerfile import REPO
from tests.support.processes import clean_env, running

UNIT = REPO / "deploy" / "deepseek-free-api.service"
UNPRIVILEGED_UID = 65534  # nobody: the unit's own user does not exist here
MAX_EXPOSURE = 2.0  # systemd-analyze security: 0 = fully locked down, 10 = none; "OK" is below 4


def unit() -> dict[str, list[tuple[str, str]]]:
    """Sections of the unit file, each a list of (key, value) in order (keys may repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        assert current is not None, f"setting outside a section: {line}"
        key, sep, value = line.partition("=")
        assert sep, f"not Key=Value: {line}"
        current.append((key.strip(), value.strip()))
    return sections


def service(key: str) -> list[str]:
    return [value for name, value in unit()["Service"] if name == key]


def unit_environment() -> dict[str, str]:
    """The unit's Environment= assignments."""
    pairs = (item.partition("=") for item in service("Environment"))
    return {name: value for name, _, value in pairs}


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed (Debian's systemd); the unit's command is still run")
    return found


def unit_with_command(installed: Installed, directory: Path) -> Path:
    """A copy of the unit whose ExecStart is the test install's binary (verify checks it exists)."""
    (command,) = service("ExecStart")
    binary = command.split()[0]
    copy = directory / UNIT.name
    copy.write_text(UNIT.read_text().replace(binary, str(installed.bin / "deepseek-free-api")))
    return copy


def test_systemd_verifies_the_unit_without_a_warning(installed: Installed, tmp_path: Path) -> None:
    result = subprocess.run(
        [systemd_analyze(), "verify", str(unit_with_command(installed, tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), result


def test_the_unit_is_hardened() -> None:
    result = subprocess.run(
        [systemd_analyze(), "security", "--offline=true", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout


def test_the_unit_runs_as_a_dedicated_user_with_its_own_state() -> None:
    assert service("User") == ["deepseek-free-api"] and service("StateDirectory") == ["deepseek-free-api"]
    environment = unit_environment()
    assert environment["DEEPSEEK_FREE_API_SERVER_DATA_DIR"] == "/var/lib/deepseek-free-api"
    assert service("WorkingDirectory") == ["/var/lib/deepseek-free-api"]
    assert service("Restart") == ["on-failure"] and service("RestartPreventExitStatus") == ["2"]


def unit_command(installed: Installed) -> list[str]:
    """ExecStart, with the test install's binary in place of /opt/deepseek-free-api's."""
    (command,) = service("ExecStart")
    return [str(installed.bin / "deepseek-free-api"), *command.split()[1:]]


def unit_env(installed: Installed, env_file: dict[str, str]) -> dict[str, str]:
    """What systemd gives the process: Environment=, then the EnvironmentFile= over it."""
    env = clean_env(PATH=installed.path_env())
    env.update(unit_environment())
    env.update(env_file)
    return env


def test_the_unit_command_serves_and_stops_on_its_signal(
    installed: Installed, simulator: BackgroundServer
) -> None:
    state = private_dir("deepseek-free-api-state-", UNPRIVILEGED_UID)
    port = free_port()
    env = unit_env(
        installed,
        {
            "API_KEYS": API_KEY,
            "DEEP_SEEK_CHAT_AUTHORIZATION": ",".join(TOKENS),
            "DEEPSEEK_BASE_URL": simulator.url,
            "DEEPSEEK_FREE_API_SERVER_PORT": str(port),
            "DEEPSEEK_FREE_API_SERVER_DATA_DIR": str(state),
            "HOME": str(state),
        },
    )
    argv = installed.as_user(unit_command(installed), UNPRIVILEGED_UID)
    assert service("KillSignal") == ["SIGTERM"]  # what `running` sends to stop it
    try:
        with running(argv, port, env=env, ready_path="/healthz", cwd=state) as server:
            assert httpx.get(server.url + "/healthz", timeout=10).json() == {"status": "ok"}
            body = {"model": "deepseek-chat", "messages": [{"role": "user", "content": "from systemd"}]}
            reply = httpx.post(
                server.url + "/v1/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {API_KEY}"},
                timeout=60,
            )
            assert reply.json()["choices"][0]["message"]["content"].startswith("Echo: from systemd")
        assert server.process.returncode in (0, -signal.SIGTERM), server.output
        assert "Traceback" not in server.output
    finally:
        shutil.rmtree(state, ignore_errors=True)


def test_a_configuration_error_exits_2_so_systemd_does_not_restart_it(
    installed: Installed, scratch: Callable[[str], Path]
) -> None:
    # RestartPreventExitStatus=2: a bad setting is reported once in the journal, not in a loop.
    env = unit_env(installed, {"DEEPSEEK_FREE_API_SERVER_PORT": "0"})
    result = subprocess.run(
        installed.as_user(unit_command(installed), UNPRIVILEGED_UID),
        env=env,
        cwd=scratch("deepseek-free-api-badconfig-"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result
    assert "server.port" in result.stderr
