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
    """The wheel, the fresh virtual environment it was installed into, and who may run it."""

    wheel: Path
    venv: Path
    # Whether another user can run the environment's interpreter (not when it lives under a
    # private home, e.g. pyenv in /root): then commands run as the image's or unit's user.
    shared: bool

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def path_env(self) -> str:
        """PATH with the environment's scripts first, as in the image (/usr/local/bin)."""
        return f"{self.bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"

    def runs_as(self, uid: int) -> bool:
        """Whether ``as_user(argv, uid)`` really switches to ``uid``."""
        return os.geteuid() == 0 and self.shared

    def as_user(self, argv: list[str], uid: int) -> list[str]:
        """``argv`` run as ``uid`` (no supplementary groups) where possible, else as this user."""
        if not self.runs_as(uid):
            return argv
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            needed("setpriv (util-linux) is not installed: cannot switch to the image's user")
        return [str(setpriv), f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", *argv]

    def owner(self, uid: int) -> int:
        """The user id files written by ``as_user(argv, uid)`` belong to."""
        return uid if self.runs_as(uid) else os.geteuid()


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


def base_python() -> str:
    """The interpreter for the fresh environment.

    Debian's python3 where it can make environments (what pip and pipx use on a Debian host, and
    any user can run it), else the one running the tests.
    """
    system = "/usr/bin/python3"
    probe = "import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))"
    if Path(system).exists():
        result = subprocess.run([system, "-c", probe], capture_output=True, timeout=60, check=False)
        if result.returncode == 0:
            return system
    return getattr(sys, "_base_executable", sys.executable)


def _usable_by_others(python: Path) -> bool:
    """Whether an unprivileged user gets this environment when running ``python``."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return False
    probe = "import sys, deepseek_free_api; print(sys.prefix, sys.base_prefix)"
    argv = [str(shutil.which("setpriv")), "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    as_nobody = subprocess.run([*argv, str(python), "-c", probe], capture_output=True, text=True, timeout=60)
    as_root = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=60)
    return as_nobody.returncode == 0 and as_nobody.stdout == as_root.stdout


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
        venv = root / "venv"
        run_checked([base_python(), "-m", "venv", venv])
        python = venv / "bin" / "python"
        # As the build stage runs it, with the interpreter that will run it (the dependencies'
        # wheels come from the index here instead).
        wheels = root / "wheels"
        run_checked([python, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", wheels, context])
        (wheel,) = wheels.glob("deepseek_free_api-*.whl")
        run_checked([python, "-m", "pip", "install", "--quiet", wheel])
        yield Installed(wheel, venv, shared=_usable_by_others(python))
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
