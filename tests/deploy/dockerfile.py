"""Read the root Dockerfile as the tests need it: each stage's instructions, ENV, the start command.

Small on purpose: the instructions this project's Dockerfile uses, in their usual forms (exec-form
JSON arrays, ``KEY=VALUE`` ENV pairs, ``\\`` continuations, ``#`` comment lines). Anything it does
not understand is an error, so a change to the Dockerfile cannot quietly make a test check less.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


@dataclass
class Stage:
    """One ``FROM`` stage: its base image, name and instructions in order."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        """The arguments of every ``keyword`` instruction of this stage."""
        return [args for name, args in self.instructions if name == keyword]

    def one(self, keyword: str) -> str:
        """The arguments of the stage's only (or last, as Docker takes it) ``keyword`` instruction."""
        found = self.all(keyword)
        if not found:
            raise AssertionError(f"stage {self.name or self.base} has no {keyword}")
        return found[-1]


def logical_lines(text: str) -> list[str]:
    """Instructions with continuation lines joined and comment lines dropped."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    if current:
        raise AssertionError("Dockerfile ends inside a continued line")
    return lines


def stages(path: Path = DOCKERFILE) -> list[Stage]:
    """The stages of the Dockerfile, first to last (global ARGs before the first FROM are ignored)."""
    result: list[Stage] = []
    for line in logical_lines(path.read_text(encoding="utf-8")):
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            result.append(Stage(parts[0], name))
        elif result:
            result[-1].instructions.append((keyword, args.strip()))
        elif keyword != "ARG":
            raise AssertionError(f"{keyword} before the first FROM")
    return result


def exec_form(args: str) -> list[str]:
    """A JSON-array (exec form) argument list; the shell form is refused (no signals for PID 1)."""
    value = json.loads(args)
    if not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
        raise AssertionError(f"not an exec-form array: {args}")
    return value


def env_of(stage: Stage) -> dict[str, str]:
    """Every ``ENV KEY=VALUE`` of the stage, later ones winning."""
    env: dict[str, str] = {}
    for args in stage.all("ENV"):
        for pair in shlex.split(args):
            key, sep, value = pair.partition("=")
            if not sep:
                raise AssertionError(f"ENV without '=': {args}")
            env[key] = value
    return env


def start_command(stage: Stage) -> list[str]:
    """ENTRYPOINT followed by CMD, as the container runs it when started without arguments."""
    return exec_form(stage.one("ENTRYPOINT")) + exec_form(stage.one("CMD"))


def healthcheck_command(stage: Stage) -> list[str]:
    """The ``HEALTHCHECK ... CMD [...]`` command."""
    _, sep, command = stage.one("HEALTHCHECK").partition(" CMD ")
    if not sep:
        raise AssertionError("HEALTHCHECK without an exec-form CMD")
    return exec_form(command.strip())


def build_context_paths(stage: Stage) -> list[str]:
    """The repository paths the stage copies from the build context (``COPY`` without ``--from``)."""
    paths: list[str] = []
    for args in stage.all("COPY"):
        parts = args.split()
        if any(part.startswith("--from") for part in parts):
            continue
        paths.extend(part for part in parts[:-1] if not part.startswith("--"))
    return paths
