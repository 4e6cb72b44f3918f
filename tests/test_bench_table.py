"""``make bench``: every part of the benchmark runs and prints its row (``--smoke``: one tiny round).

The figures themselves are not checked (a shared machine's timings are not a test); what is
checked is that the table a user reruns is complete and that no request failed on any path.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.support.processes import REPO

ROWS = (
    "added TTFT p50 (ms), 1 concurrent",
    "added TTFT p50 (ms), 10 concurrent",
    "added TTFT p50 (ms), 50 concurrent",
    "TTFT p99 (ms), 50 concurrent",
    "20 × 4-s streams: TTFT p99 (ms)",
    "20 × 4-s streams: failed",
    "20 × 4-s streams: peak RSS (MB)",
    "long reply (M chars/s)",
    "CPU per turn (ms)",
    "idle RSS (MB)",
    "start-up to first answer (ms)",
)


@pytest.mark.timeout(600)
def test_make_bench_prints_every_figure_of_the_table() -> None:
    if shutil.which("make") is None or not (REPO / ".venv" / "bin" / "python").exists():
        pytest.skip("make bench needs `make` and the project's .venv (created by `make test`)")
    done = subprocess.run(
        ["make", "-s", "bench", "ARGS=--smoke"], cwd=REPO, capture_output=True, text=True, timeout=580
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = {line.split(" | ")[0].lstrip("| ") for line in done.stdout.splitlines() if line.startswith("| ")}
    assert set(ROWS) <= lines, done.stdout
    assert "failed requests" not in done.stdout
