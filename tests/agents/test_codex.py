"""Codex (OpenAI Responses) writes hello.txt through its own tools, end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agents.conftest import AgentStack, agent_binary, codex_home, start_agent_stack
from tests.api.conftest import API_KEY

TASK = "create hello.txt containing hi"
FINAL = "Done: hello.txt now contains hi."


def dsml_call(tool: str, parameter: str, value: str) -> str:
    """One call of ``tool`` with one string parameter, in DeepSeek's DSML markup."""
    return (
        "<｜DSML｜tool_calls>\n"
        f'<｜DSML｜invoke name="{tool}">\n'
        f'<｜DSML｜parameter name="{parameter}" string="true">{value}</｜DSML｜parameter>\n'
        "</｜DSML｜invoke>\n"
        "</｜DSML｜tool_calls>"
    )


def scripts(tool: str, parameter: str, value: str) -> list[dict[str, str]]:
    # The follow-up repeats the task and adds the tool's result (rendered by the server as
    # <tool_result name="TOOL">), so its script comes first.
    return [
        {"pattern": f'<tool_result name="{tool}">', "answer": FINAL},
        {"pattern": TASK, "answer": dsml_call(tool, parameter, value)},
    ]


def run_codex(stack: AgentStack, model: str) -> str:
    """``codex exec`` with a private CODEX_HOME whose provider is the server; returns stdout."""
    codex = agent_binary("codex", "codex")
    home = codex_home(stack.home, stack.url)
    argv = [str(codex), "exec", "-m", model, "-s", "workspace-write", "--skip-git-repo-check", TASK]
    result = stack.run(argv, {"CODEX_HOME": str(home), "DEEPSEEK_FREE_API_KEY": API_KEY})
    assert result.returncode == 0, stack.report()
    return result.stdout


@pytest.fixture
def shell_stack(tmp_path: Path) -> Iterator[AgentStack]:
    yield from start_agent_stack(scripts("exec_command", "cmd", "printf hi > hello.txt"), tmp_path)


def test_codex_with_a_deepseek_model_name_writes_the_file_through_exec_command(
    shell_stack: AgentStack,
) -> None:
    # Codex knows no metadata for a DeepSeek name, so it offers no apply_patch: it writes through
    # its shell tool, and the function_call_output comes back in the follow-up.
    stdout = run_codex(shell_stack, "deepseek-v4-flash")
    hello = shell_stack.workdir / "hello.txt"
    assert hello.exists() and hello.read_text() == "hi", shell_stack.report()
    assert FINAL in stdout, shell_stack.report()


@pytest.fixture
def patch_stack(tmp_path: Path) -> Iterator[AgentStack]:
    patch = "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch"
    yield from start_agent_stack(scripts("apply_patch", "input", patch), tmp_path)


def test_codex_with_its_own_model_name_writes_the_file_through_apply_patch(
    patch_stack: AgentStack,
) -> None:
    # -m gpt-5.5 (answered by chat.gpt_model) is what makes Codex offer its custom apply_patch tool;
    # the raw patch text comes back as a custom_tool_call item and Codex applies it itself.
    stdout = run_codex(patch_stack, "gpt-5.5")
    hello = patch_stack.workdir / "hello.txt"
    assert hello.exists() and hello.read_text() == "hi\n", patch_stack.report()
    assert FINAL in stdout, patch_stack.report()
