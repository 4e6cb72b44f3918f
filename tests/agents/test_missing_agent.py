"""A real-agent test whose agent is missing: skipped with its reason, but a failure under CI=true."""

from __future__ import annotations

from pathlib import Path

import pytest
from _pytest.outcomes import Failed, Skipped

from tests.agents import conftest


def test_a_missing_agent_is_a_skip_with_its_reason_locally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conftest, "AGENTS", tmp_path)
    monkeypatch.delenv("CI", raising=False)
    (tmp_path / "codex.failed").write_text("npm install @openai/codex failed: ENOTFOUND")
    with pytest.raises(Skipped, match="ENOTFOUND"):
        conftest.agent_binary("codex", "codex")


def test_a_missing_agent_fails_under_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "AGENTS", tmp_path)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(Failed, match="CI=true"):
        conftest.agent_binary("codex", "codex")
