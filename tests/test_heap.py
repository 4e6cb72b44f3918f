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


def test_idle_trim_gives_memory_back_once_after_turns_and_never_while_one_runs() -> None:
    import asyncio

    from deepseek_free_api.heap import IdleTrim

    async def scenario() -> list[str]:
        events: list[str] = []
        trim = IdleTrim(delay_s=0.05, trim=lambda: events.append("trim"))
        trim.idle()  # nothing ran yet: nothing to give back
        await asyncio.sleep(0.1)
        events.append("started")
        trim.busy()
        trim.idle()
        trim.busy()  # another turn before the delay: no trim under it
        await asyncio.sleep(0.1)
        events.append("still busy")
        trim.idle()
        trim.idle()  # asked twice: one trim
        await asyncio.sleep(0.1)
        trim.idle()  # no turn since the last trim
        await asyncio.sleep(0.1)
        return events

    assert asyncio.run(scenario()) == ["started", "still busy", "trim"]
