"""`pip install .` (and so `pipx install .`, which runs pip in a venv of its own), used as installed.

The fresh environment holds the wheel and its dependencies only, not this checkout: what the
wheel leaves out (the demo's simulator config, the offline /docs assets, the native core) shows.
pipx itself is not run.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx

from deepseek_free_api import __version__
from deepseek_free_api.background import free_port
from tests.deploy.conftest import Installed
from tests.support.processes import clean_env, running


def test_the_console_script_is_installed(installed: Installed) -> None:
    result = subprocess.run(
        [str(installed.bin / "deepseek-free-api"), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and result.stdout.strip() == f"deepseek-free-api {__version__}"


def test_the_installed_demo_answers_and_documents_itself_offline(
    installed: Installed, scratch: Callable[[str], Path]
) -> None:
    port = free_port()
    elsewhere = scratch("deepseek-free-api-native-")  # not the checkout
    env = clean_env(PATH=installed.path_env(), HOME=str(elsewhere))
    argv = [str(installed.bin / "deepseek-free-api"), "serve", "--demo", "--port", str(port)]
    with running(argv, port, env=env, ready_path="/healthz", cwd=elsewhere) as demo:
        body = {"model": "deepseek-chat", "messages": [{"role": "user", "content": "installed"}]}
        reply = httpx.post(demo.url + "/v1/chat/completions", json=body, timeout=60).json()
        assert reply["choices"][0]["message"]["content"].startswith("Echo: installed")
        page = httpx.get(demo.url + "/docs", timeout=10)
        assert page.status_code == 200
        # Every asset the /docs page loads is served from the installed package.
        assets = [part.split('"')[0] for part in page.text.split('src="')[1:] + page.text.split('href="')[1:]]
        local = [asset for asset in assets if asset.startswith("/")]
        assert local, page.text
        for asset in local:
            assert httpx.get(demo.url + asset, timeout=10).status_code == 200, asset
    assert demo.stopped_gracefully, demo.output
