"""Session reuse with real agents: a task of three tool round trips runs in one DeepSeek session.

Claude Code (Anthropic Messages) and Codex (Responses, ``store: false``) send the whole history on
every request. With ``chat.session_reuse`` (the default) each request after the first goes on in
the session of the one before and carries only its new turn; without it every request replays the
history in a new session. The characters sent upstream either way are printed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.agents.conftest import AgentStack, agent_binary, claude_env, codex_home, start_agent_stack
from tests.agents.test_claude_code import write_call
from tests.agents.test_codex import dsml_call
from tests.api.conftest import API_KEY

TASK = "make the three files of the plan, one after the other"
FINAL = "Done: the three files are written."
STEPS = ("alpha", "beta", "gamma")


def claude_scripts(workdir: Path) -> list[dict[str, Any]]:
    # Each Write result names the file it wrote ("File created successfully at: …/alpha.txt").
    scripts: list[dict[str, Any]] = [{"pattern": r"gamma\.txt", "scope": "last_turn", "answer": FINAL}]
    for done, following in zip(STEPS, STEPS[1:], strict=False):
        answer = write_call(workdir / f"{following}.txt")
        scripts.append({"pattern": rf"{done}\.txt", "scope": "last_turn", "answer": answer})
    scripts.append({"pattern": TASK, "scope": "last_turn", "answer": write_call(workdir / "alpha.txt")})
    return scripts


def codex_scripts(workdir: Path) -> list[dict[str, Any]]:
    # exec_command's output does not repeat the command: each one echoes the step it did.
    def call(step: str) -> str:
        return dsml_call("exec_command", "cmd", f"printf hi > {step}.txt && echo DID-{step.upper()}")

    scripts: list[dict[str, Any]] = [{"pattern": "DID-GAMMA", "scope": "last_turn", "answer": FINAL}]
    for done, following in zip(STEPS, STEPS[1:], strict=False):
        scripts.append({"pattern": f"DID-{done.upper()}", "scope": "last_turn", "answer": call(following)})
    scripts.append({"pattern": TASK, "scope": "last_turn", "answer": call("alpha")})
    return scripts


def run_claude(stack: AgentStack) -> None:
    claude = agent_binary("claude-code", "claude")
    argv = [str(claude), "-p", TASK, "--model", "claude-sonnet-4-6", "--permission-mode", "acceptEdits"]
    result = stack.run(argv, claude_env(stack.url, API_KEY))
    assert result.returncode == 0 and FINAL in result.stdout, stack.report()


def run_codex(stack: AgentStack) -> None:
    codex = agent_binary("codex", "codex")
    home = codex_home(stack.home, stack.url)
    argv = [str(codex), "exec", "-m", "gpt-5.5", "-s", "workspace-write", "--skip-git-repo-check", TASK]
    result = stack.run(argv, {"CODEX_HOME": str(home), "DEEPSEEK_FREE_API_KEY": API_KEY})
    assert result.returncode == 0, stack.report()


AGENTS: dict[str, tuple[Callable[[Path], list[dict[str, Any]]], Callable[[AgentStack], None]]] = {
    "claude-code": (claude_scripts, run_claude),
    "codex": (codex_scripts, run_codex),
}


@pytest.mark.parametrize("agent", list(AGENTS))
def test_a_real_agents_task_runs_in_one_session_sending_only_each_new_turn(
    agent: str, tmp_path: Path
) -> None:
    # On the base code each of the four requests replayed the whole history in a new session.
    make_scripts, run = AGENTS[agent]
    sent: dict[str, list[dict[str, Any]]] = {}
    for mode, settings in (("reuse", {}), ("no reuse", {"chat.session_reuse": False})):
        folder = tmp_path / mode.replace(" ", "-")
        folder.mkdir()
        for stack in start_agent_stack(make_scripts(folder / "work"), folder, **settings):
            run(stack)
            assert all((stack.workdir / f"{step}.txt").read_text() == "hi" for step in STEPS), stack.report()
            sent[mode] = stack.simulator_requests()
            if mode == "reuse":
                report = stack.report()
    chars = {mode: [len(c["prompt"]) for c in completions] for mode, completions in sent.items()}
    print(f"\n{agent}: characters per upstream prompt {chars} (totals {[sum(v) for v in chars.values()]})")
    reused = sent["reuse"]
    assert len(reused) == 4, report
    assert len({c["body"]["chat_session_id"] for c in reused}) == 1, report
    assert all(c["body"]["parent_message_id"] is not None for c in reused[1:]), report
    assert all(TASK not in c["prompt"] for c in reused[1:]), report  # only the new turn went up
    assert len({c["body"]["chat_session_id"] for c in sent["no reuse"]}) == len(sent["no reuse"])
    assert sum(chars["reuse"]) < sum(chars["no reuse"])
