"""Cline (OpenAI-compatible chat completions) writes hello.txt through its editor tool, end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agents.conftest import AgentStack, agent_binary, start_agent_stack
from tests.api.conftest import API_KEY

TASK = "create hello.txt containing hi"
FINAL = "Done: hello.txt now contains hi."


def editor_call(path: Path) -> str:
    """Cline's editor tool creating ``path`` (absolute) with ``new_text``, in DSML markup."""
    return (
        "<｜DSML｜tool_calls>\n"
        '<｜DSML｜invoke name="editor">\n'
        f'<｜DSML｜parameter name="path" string="true">{path}</｜DSML｜parameter>\n'
        '<｜DSML｜parameter name="new_text" string="true">hi</｜DSML｜parameter>\n'
        "</｜DSML｜invoke>\n"
        "</｜DSML｜tool_calls>"
    )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[AgentStack]:
    scripts = [
        # The follow-up repeats the task and adds the editor's result; its script comes first.
        {"pattern": "File created successfully", "answer": FINAL},
        {"pattern": TASK, "answer": editor_call(tmp_path / "work" / "hello.txt")},
    ]
    yield from start_agent_stack(scripts, tmp_path)


def test_cline_creates_the_file_and_answers(stack: AgentStack) -> None:
    cline = agent_binary("cline", "cline")
    # `cline auth` writes the provider into the private HOME's ~/.cline; the base URL ends in /v1.
    auth = [str(cline), "auth", "-p", "openai-compatible", "-k", API_KEY, "-m", "deepseek-v4-flash"]
    configured = stack.run([*auth, "-b", stack.url + "/v1"], {})
    assert configured.returncode == 0, stack.report()
    result = stack.run([str(cline), "--timeout", "60", TASK], {})
    hello = stack.workdir / "hello.txt"
    assert result.returncode == 0, stack.report()
    assert hello.exists() and hello.read_text() == "hi", stack.report()
    assert FINAL in result.stdout, stack.report()
