"""Shared fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def pow_vectors() -> dict[str, Any]:
    """../shared/pow-vectors.json, with a copy under tests/fixtures for clones without shared/."""
    for path in (SHARED / "pow-vectors.json", FIXTURES / "pow-vectors.json"):
        if path.exists():
            data: dict[str, Any] = json.loads(path.read_text())
            return data
    raise FileNotFoundError("pow-vectors.json not found")
