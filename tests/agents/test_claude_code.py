"""Claude Code (Anthropic Messages) writes hello.txt through its Write tool, end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agents.conftest import AgentStack, agent_binary, claude_env, start_agent_stack
from tests.api.conftest import API_KEY

TASK = "create hello.txt containing hi"
FINAL = "Done: hello.txt now contains hi."


def write_call(path: Path) -> str:
    """Claude Code's Write tool call (absolute file_path, content) in DeepSeek's DSML markup."""
    return (
        "I'll create the file.\n\n"
        "<｜DSML｜tool_calls>\n"
        '<｜DSML｜invoke name="Write">\n'
        f'<｜DSML｜parameter name="file_path" string="true">{path}</｜DSML｜parameter>\n'
        '<｜DSML｜parameter name="content" string="true">hi</｜DSML｜parameter>\n'
        "</｜DSML｜invoke>\n"
        "</｜DSML｜tool_calls>"
    )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[AgentStack]:
    target = tmp_path / "work" / "hello.txt"
    scripts = [
        # The follow-up carries the Write tool's result; it also repeats the task, so it comes first.
        {"pattern": "File created successfully", "answer": FINAL},
        {"pattern": TASK, "answer": write_call(target)},
    ]
    yield from start_agent_stack(scripts, tmp_path)


def test_claude_code_creates_the_file_and_answers(stack: AgentStack) -> None:
    claude = agent_binary("claude-code", "claude")
    result = stack.run(
        [str(claude), "-p", TASK, "--model", "claude-sonnet-4-6", "--permission-mode", "acceptEdits"],
        claude_env(stack.url, API_KEY),
    )
    hello = stack.workdir / "hello.txt"
    assert result.returncode == 0, stack.report()
    assert hello.exists() and hello.read_text() == "hi", stack.report()
    assert FINAL in result.stdout, stack.report()
