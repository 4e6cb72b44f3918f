"""``serve`` starts without collections, then freezes what start-up built (deepseek_free_api.heap)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc
from deepseek_free_api import heap
heap.pause()
assert not gc.isenabled()
from deepseek_free_api.app import create_app  # what start-up builds
heap.settle()
print(gc.isenabled(), gc.get_freeze_count(), gc.get_threshold()[0])
"""


def test_start_up_objects_are_frozen_and_the_collector_runs_again() -> None:
    probe = [sys.executable, "-c", PROBE]
    out = subprocess.run(probe, capture_output=True, text=True, timeout=120, check=True)
    enabled, frozen, young = out.stdout.split()
    assert enabled == "True"
    assert int(frozen) > 20_000  # modules, classes, schemas: no full collection walks them again
    assert int(young) >= 10_000  # short-lived request objects die before a collection sees them
