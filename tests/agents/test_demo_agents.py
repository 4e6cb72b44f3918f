"""Coding agents pointed at the demo (`serve --demo`, what `make demo` runs) create a file.

No test-specific scripts: the demo's own (simulator/demo.toml: "create-file", then "tool-result")
answer the agent's first turn with a call of the file tool it offers and the next one, which
carries the tool's result, with a short text quoting it. The agents run with the README's
commands and key, each in a private HOME and working directory.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agents.conftest import agent_binary, claude_env, codex_home, run_agent
from tests.support.leftovers import processes_with_home, stop_processes_with_home
from tests.support.processes import demo_server

DEMO_KEY = "sk-my-service-key"  # the README's key, which the demo accepts
TASK = "create hello.txt containing hi"
FINAL = "Done: hello.txt now contains hi."  # the demo's "file-created" script


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    with demo_server() as demo:
        yield demo.url


@pytest.fixture
def dirs(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    home, workdir = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    workdir.mkdir()
    yield home, workdir
    stop_processes_with_home(home)  # what the agent left running (Cline's hub daemon)
    assert not processes_with_home(home), "the agent's processes outlived SIGKILL"


def check(result: subprocess.CompletedProcess[str], workdir: Path, content: str) -> None:
    print(result.stdout)
    shown = f"exit {result.returncode}\nstdout: {result.stdout[-3000:]}\nstderr: {result.stderr[-3000:]}"
    hello = workdir / "hello.txt"
    assert result.returncode == 0, shown
    assert hello.exists() and hello.read_text() == content, shown
    assert FINAL in result.stdout, shown


def test_claude_code_writes_the_file_in_the_demo(demo_url: str, dirs: tuple[Path, Path]) -> None:
    claude = agent_binary("claude-code", "claude")
    home, workdir = dirs
    argv = [str(claude), "-p", TASK, "--model", "claude-sonnet-4-6", "--permission-mode", "acceptEdits"]
    check(run_agent(argv, claude_env(demo_url, DEMO_KEY), home, workdir), workdir, "hi")


@pytest.mark.parametrize(
    ("model", "content"),
    [("gpt-5.5", "hi\n"), ("deepseek-v4-flash", "hi\n")],
    ids=["apply_patch", "exec_command"],
)
def test_codex_writes_the_file_in_the_demo(
    demo_url: str, dirs: tuple[Path, Path], model: str, content: str
) -> None:
    # gpt-5.5 makes Codex offer apply_patch; with a DeepSeek name it has only its shell.
    codex = agent_binary("codex", "codex")
    home, workdir = dirs
    env = {"CODEX_HOME": str(codex_home(home, demo_url)), "DEEPSEEK_FREE_API_KEY": DEMO_KEY}
    argv = [str(codex), "exec", "-m", model, "-s", "workspace-write", "--skip-git-repo-check", TASK]
    check(run_agent(argv, env, home, workdir), workdir, content)


def test_cline_writes_the_file_in_the_demo(demo_url: str, dirs: tuple[Path, Path]) -> None:
    cline = agent_binary("cline", "cline")
    home, workdir = dirs
    auth = [str(cline), "auth", "-p", "openai-compatible", "-k", DEMO_KEY, "-m", "deepseek-v4-flash"]
    configured = run_agent([*auth, "-b", demo_url + "/v1"], {}, home, workdir)
    assert configured.returncode == 0, configured.stderr
    check(run_agent([str(cline), "--timeout", "60", TASK], {}, home, workdir), workdir, "hi")
