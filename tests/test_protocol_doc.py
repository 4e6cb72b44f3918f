"""The repository stands alone: its protocol notes are in docs/, and every reference to them resolves."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "PROTOCOL.md"
# "PROTOCOL.md §3.2", "PROTOCOL §6.1", "§3.2–3.6", "§5.4/5.5 d", "§1.2, §2.4"
_CITED = re.compile(r"§\s?(\d+(?:\.\d+)?)(?:\s?[–/-]\s?(\d+(?:\.\d+)?))?")


def _sections() -> set[str]:
    numbers = re.findall(r"^#{2,3} (\d+(?:\.\d+)?)[. ]", DOC.read_text(encoding="utf-8"), re.MULTILINE)
    return set(numbers)


def _citing_files() -> list[Path]:
    files = [REPO / "README.md", REPO / "BENCHMARKS.md"]
    for folder in ("src", "tests", "bench"):
        files += [p for p in (REPO / folder).rglob("*") if p.suffix in (".py", ".toml", ".md", ".c")]
    return [p for p in files if p.is_file()]


def test_the_protocol_notes_are_in_the_repository() -> None:
    assert DOC.is_file()
    assert {"1.2", "1.4", "2.2", "2.4", "3.3", "3.5", "4.2", "4.4", "5.3", "5.5"} <= _sections()


def test_every_cited_section_of_the_protocol_notes_exists() -> None:
    sections = _sections()
    missing = []
    for path in _citing_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "PROTOCOL" not in line:
                continue
            for first, second in _CITED.findall(line.split("PROTOCOL", 1)[1]):
                missing += [
                    f"{path.relative_to(REPO)}:{number}: §{s}"
                    for s in (first, second)
                    if s and s not in sections
                ]
    assert missing == []


def test_documents_point_at_docs_protocol_md() -> None:
    for path in (
        REPO / "README.md",
        REPO / "BENCHMARKS.md",
        REPO / "src/deepseek_free_api/simulator/demo.toml",
    ):
        text = path.read_text(encoding="utf-8")
        assert "PROTOCOL.md" in text, path
        assert text.count("PROTOCOL.md") == text.count("docs/PROTOCOL.md"), path
