"""What the deployment tests share: the package installed as a user installs it, and the simulator.

``installed`` builds the wheel from exactly the files the Dockerfile copies into its build stage
(``pip wheel``, as the build stage runs it), then installs it into a fresh virtual environment
with nothing else in it: the same install the image, ``pip install .``, ``pipx install .``, the
systemd unit and PM2 run. Built once per test session (about a minute on two shared cores).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from deepseek_free_api.background import BackgroundServer
from deepseek_free_api.simulator import create_app as create_simulator
from tests.api.conftest import simulator_config
from tests.deploy.dockerfile import DOCKERFILE, REPO, build_context_paths, stages

INSTALL_TIMEOUT_S = 900
# What .dockerignore keeps out of the build context besides the files it does not list.
_NOT_IN_CONTEXT = shutil.ignore_patterns("__pycache__", "*.so", "*.egg-info")


def needed(reason: str) -> None:
    """A tool the test needs is missing: a failure under CI=true (CI installs it), else a skip."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: .ci/run installs it, so this is a failure)")
    pytest.skip(reason)


@dataclass(frozen=True)
class Installed:
    """The wheel and the fresh virtual environment it was installed into."""

    wheel: Path
    venv: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def path_env(self) -> str:
        """PATH with the environment's scripts first, as in the image (/usr/local/bin)."""
        return f"{self.bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"


def run_checked(argv: Sequence[str | Path], timeout: float = INSTALL_TIMEOUT_S) -> str:
    """Run a command to completion; the test fails with its output if it exits non-zero."""
    result = subprocess.run(
        [str(arg) for arg in argv], capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"{argv} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def world_readable_dir(prefix: str) -> Path:
    """A new directory under the system temp dir that an unprivileged user can read (0755)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@pytest.fixture
def scratch() -> Iterator[Callable[[str], Path]]:
    """Makes world-readable directories (``world_readable_dir``), removed after the test."""
    made: list[Path] = []

    def make(prefix: str) -> Path:
        made.append(world_readable_dir(prefix))
        return made[-1]

    yield make
    for path in made:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def installed() -> Iterator[Installed]:
    root = world_readable_dir("deepseek-free-api-install-")
    try:
        context = root / "context"
        context.mkdir()
        build = stages(DOCKERFILE)[0]
        for relative in build_context_paths(build):
            source = REPO / relative
            if source.is_dir():
                shutil.copytree(source, context / relative, ignore=_NOT_IN_CONTEXT)
            else:
                shutil.copy2(source, context / relative)
        wheels = root / "wheels"
        run_checked(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", wheels, context]
        )
        (wheel,) = wheels.glob("deepseek_free_api-*.whl")
        venv = root / "venv"
        run_checked([sys.executable, "-m", "venv", venv])
        run_checked([venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel])
        yield Installed(wheel, venv)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def image_uid() -> int:
    """The unprivileged user id the image runs as (the Dockerfile's ``ARG APP_UID``)."""
    final = stages(DOCKERFILE)[-1]
    for args in final.all("ARG"):
        match = re.fullmatch(r"APP_UID=(\d+)", args)
        if match:
            return int(match.group(1))
    raise AssertionError("the final stage declares no ARG APP_UID=<number>")


def as_user(argv: list[str], uid: int) -> list[str]:
    """``argv`` run as ``uid`` (no supplementary groups) when the tests run as root, as-is otherwise."""
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        needed("setpriv (util-linux) is not installed: cannot drop to the image's user")
    return [str(setpriv), f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", *argv]


def private_dir(prefix: str, uid: int) -> Path:
    """A 0700 directory owned by ``uid`` (when root can give it away), like the image's /data."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        os.chown(path, uid, uid)
    path.chmod(0o700)
    return path


@pytest.fixture(scope="module")
def simulator() -> Iterator[BackgroundServer]:
    """The DeepSeek simulator with the two token accounts of tests/api (``TOKENS``)."""
    with BackgroundServer(create_simulator(simulator_config())) as upstream:
        yield upstream
