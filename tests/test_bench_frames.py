"""``bench/frames.py``: the decode-and-render benchmark runs, against another tree too (``--smoke``).

The figures are not checked (timings on a shared machine are no test); what is checked is that
every case prints its row and that both trees wrote the same bytes for the same stream.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.processes import REPO


@pytest.mark.timeout(300)
def test_frames_bench_prints_every_case_and_the_same_output_for_both_trees() -> None:
    done = subprocess.run(
        [sys.executable, "frames.py", "--smoke", "--compare", f"again={REPO / 'src'}"],
        cwd=REPO / "bench",
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for case in ("ttft/frame", "ttft/16k", "long/frame", "long/16k"):
        assert f"this / again {case}" in done.stdout, done.stdout
    assert "OUTPUT DIFFERS" not in done.stdout
    assert done.stdout.count("(same output bytes)") == 4
