"""The README's examples, run as written against `deepseek-free-api serve --demo` in its own process.

Only the address is rewritten (the demo listens on a free port instead of 8000). A Python block
that needs a package that is not installed is skipped with the reason; nothing else is.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deepseek_free_api.background import free_port
from deepseek_free_api.config import load_settings
from tests.test_commands import CLI, clean_env, running

README = Path(__file__).resolve().parents[1] / "README.md"
DOCUMENTED_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Block:
    """A fenced code block of the README."""

    language: str
    code: str
    line: int
    heading: str

    @property
    def id(self) -> str:
        return f"{self.language}@L{self.line}"


def readme_blocks() -> list[Block]:
    blocks: list[Block] = []
    heading = ""
    lines = README.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        fence = re.match(r"^(\s*)```(\w*)\s*$", line)
        if fence:
            indent, language = fence.groups()
            start = index + 1
            index += 1
            while not lines[index].strip().startswith("```"):
                index += 1
            body = "\n".join(text.removeprefix(indent) for text in lines[start:index])
            blocks.append(Block(language, body + "\n", start, heading))
        index += 1
    return blocks


def curl_commands() -> list[tuple[str, str]]:
    """Every curl command of the shell blocks, continuation lines joined; (id, command)."""
    commands = []
    for block in readme_blocks():
        if block.language != "sh":
            continue
        joined = block.code.replace("\\\n", " ")
        for number, command in enumerate(joined.splitlines()):
            if command.strip().startswith("curl "):
                commands.append((f"{block.id}#{number}", command.strip()))
    return commands


PYTHON_BLOCKS = [block for block in readme_blocks() if block.language == "python"]


@pytest.fixture(scope="module")
def demo() -> Iterator[str]:
    port = free_port()
    with running([*CLI, "serve", "--demo", "--port", str(port)], port) as server:
        yield server.url


def test_the_readme_has_the_examples_this_file_runs() -> None:
    assert len(curl_commands()) >= 1
    assert len(PYTHON_BLOCKS) >= 2
    assert any("langchain_openai" in block.code for block in PYTHON_BLOCKS)
    assert any("bind_tools([get_weather])" in block.code for block in PYTHON_BLOCKS)


@pytest.mark.parametrize(("name", "command"), curl_commands(), ids=[name for name, _ in curl_commands()])
def test_curl_example(demo: str, name: str, command: str) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    # $DEEPSEEK_TOKEN is unset here, as for a newcomer trying the demo: the bearer is empty.
    done = subprocess.run(
        ["bash", "-c", command.replace(DOCUMENTED_URL, demo)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    print(done.stdout)
    assert done.returncode == 0, done.stderr
    assert '"error"' not in done.stdout
    if '"stream": true' in command:
        assert "data: [DONE]" in done.stdout
        assert '"delta"' in done.stdout
    else:
        assert done.stdout.strip()


def _missing_modules(code: str) -> list[str]:
    names = re.findall(r"^\s*(?:from|import)\s+([A-Za-z_][\w]*)", code, flags=re.MULTILINE)
    return [name for name in dict.fromkeys(names) if importlib.util.find_spec(name) is None]


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[block.id for block in PYTHON_BLOCKS])
def test_python_example(demo: str, block: Block, tmp_path: Path) -> None:
    missing = _missing_modules(block.code)
    if missing:
        pytest.skip(f"README block at line {block.line} needs {', '.join(missing)}, which is not installed")
    script = tmp_path / "example.py"
    script.write_text(block.code.replace(DOCUMENTED_URL, demo), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], env=clean_env(), capture_output=True, text=True, timeout=120
    )
    print(done.stdout)
    assert done.returncode == 0, done.stderr
    if DOCUMENTED_URL in block.code:  # it talked to the server: it printed an answer
        assert done.stdout.strip()
    if "get_weather" in block.code and "Paris" in block.code:
        # A weather tool and a question about Paris: the demo's "weather" script calls the tool
        # (LangChain's bind_tools example prints reply.tool_calls), it does not echo.
        assert "get_weather" in done.stdout and "Paris" in done.stdout, done.stdout
        assert "Echo:" not in done.stdout, done.stdout


def test_the_example_config_file_loads(tmp_path: Path) -> None:
    blocks = [b for b in readme_blocks() if b.language == "toml" and b.heading == "Configuration"]
    assert blocks
    for block in blocks:
        path = tmp_path / "config.toml"
        path.write_text(block.code, encoding="utf-8")
        settings = load_settings(env={}, config_path=path)
        assert settings.auth.api_keys == ("sk-my-service-key",)
