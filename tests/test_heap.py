"""``serve`` starts without collections, then freezes what start-up built (deepseek_free_api.heap)."""

from __future__ import annotations

import subprocess
import sys

import pytest

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


ARENA_PROBE = """
import ctypes, os, sys, tempfile, threading
from deepseek_free_api import heap
if sys.argv[1] == "capped":
    heap.cap_arenas()
ready = threading.Barrier(12)
def work():
    held = [bytearray(200_000) for _ in range(4)]  # from malloc, in this thread's arena
    ready.wait()
threads = [threading.Thread(target=work) for _ in range(12)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
path = tempfile.mktemp()
stream = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, ctypes.c_void_p(stream))
libc.fclose(ctypes.c_void_p(stream))
print(open(path).read().count("<heap nr="))
os.unlink(path)
"""


def _arenas(mode: str, **env: str) -> int:
    import os

    probe = [sys.executable, "-c", ARENA_PROBE, mode]
    environment = {key: value for key, value in os.environ.items() if key != "MALLOC_ARENA_MAX"} | env
    out = subprocess.run(probe, capture_output=True, text=True, timeout=60, check=True, env=environment)
    return int(out.stdout)


def test_threads_share_a_few_malloc_arenas() -> None:
    """Twelve threads allocating at once got arenas of their own (up to 8 per core), each keeping
    what its thread freed; capped, they share four (heap.cap_arenas, which `serve` calls first)."""
    assert _arenas("capped") <= 4
    assert _arenas("uncapped") > 4  # the probe can tell: glibc's own limit is 8 per core


def test_the_operators_malloc_arena_max_wins() -> None:
    assert _arenas("capped", MALLOC_ARENA_MAX="8") > 4


def test_serve_caps_the_arenas_before_it_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    from deepseek_free_api import cli, heap, server

    steps: list[str] = []
    monkeypatch.setattr(heap, "cap_arenas", lambda: steps.append("cap"))
    monkeypatch.setattr(heap, "pause", lambda: steps.append("pause"))

    def run(**_: object) -> int:
        steps.append("run")
        return 0

    monkeypatch.setattr(server, "run", run)
    assert cli.main(["serve"]) == 0
    assert steps == ["cap", "pause", "run"]
