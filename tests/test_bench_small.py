"""The small benchmarks BENCHMARKS.md tells one to run (``lease_pass.py``, ``call_setup.py``,
``timeline.py``, ``store_calls.py``, ``calls.py``, ``stream_memory.py``, ``agent_prompts.py``) still run.

Each in its own process, tiny, as documented; the figures are not checked (timings on a shared
machine are no test), only that every row is printed with a number, so a change to the pool or
the upstream client that breaks a benchmark shows here and not the next time someone measures.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.support.processes import REPO


def _run(*argv: str) -> str:
    done = subprocess.run(
        [sys.executable, *argv], cwd=REPO, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _run_beside_itself(*argv: str) -> str:
    """``_run`` with ``--compare again=<this tree>``: the benchmark's second tree is this one."""
    return _run(*argv, "--compare", f"again={REPO / 'src'}")


@pytest.mark.timeout(300)
def test_lease_pass_prints_every_figure_for_every_pool_size_and_tree() -> None:
    out = _run_beside_itself("bench/lease_pass.py", "--accounts", "10,40", "--rounds", "1", "--turns", "10")
    for accounts in (10, 40):
        for figure in ("pass", "turn", "burst"):
            for tree in ("this", "again"):
                pattern = rf"{accounts} accounts\s+{figure}\s+.*{tree} [\d.]+ ms"
                assert re.search(pattern, out), f"no {figure} / {tree} row for {accounts} accounts:\n{out}"


@pytest.mark.timeout(300)
def test_call_setup_prints_both_kinds_of_call() -> None:
    out = _run("bench/call_setup.py", "--calls", "100", "--rounds", "1")
    for kind in ("session", "completion"):
        assert re.search(rf"{kind}\s+[\d.]+ us CPU per call", out), out


@pytest.mark.timeout(300)
def test_timeline_marks_every_step_of_a_request_in_the_server() -> None:
    # The marks are put into ``serve`` by bench/timeline_site: a renamed function they wrap, or a
    # step that no longer happens, shows here as a missing row or an exit with a message.
    out = _run("bench/timeline.py", "--requests", "3", "--detail")
    assert re.search(r"added TTFT \(medians\) [+-][\d.]+ ms", out), out
    rows = dict(re.findall(r"^\s+(\w+) -> (\w+)\s+[\d.]+ ms", out, re.MULTILINE))
    for step in (
        "client",
        "conn",
        "req",
        "handler",
        "parsed",
        "lease_txn",
        "leased",
        "send",
        "head",
        "marker",
    ):
        assert step in rows, f"no row from {step}:\n{out}"


@pytest.mark.timeout(300)
def test_timeline_of_bursts_prints_every_rank_and_each_process_cpu() -> None:
    # Bursts: the marks of concurrent requests are kept apart (one record per request), so each
    # rank of the burst has its row, with the steps in the order they happen.
    out = _run("bench/timeline.py", "--concurrency", "3", "--bursts", "2")
    assert re.search(r"added TTFT \(medians\) [+-][\d.]+ ms", out), out
    for path in ("server", "direct"):
        assert re.search(
            rf"CPU per turn in the {path} bursts \(ms\): server [\d.]+, simulator [\d.]+", out
        ), out
    header = re.search(r"^rank +(.+)$", out, re.MULTILINE)
    assert header is not None, out
    steps = header.group(1).split()
    assert steps[:2] == ["conn", "req"] and "send" in steps and steps[-1] == "marker", steps
    rows = re.findall(r"^\s+(\d) +((?:[\d.]+ +)+[\d.]+)$", out, re.MULTILINE)
    assert [rank for rank, _ in rows] == ["0", "1", "2"], out
    for _, cells in rows:
        times = [float(cell) for cell in cells.split()]
        assert len(times) == len(steps), out
        assert times[steps.index("send")] <= times[steps.index("marker")], out


@pytest.mark.timeout(300)
def test_store_calls_prints_the_calls_now_and_before() -> None:
    # It makes a turn's store calls on a SQLite file the way the pool makes them: a change to the
    # store's calls that breaks it shows here.
    out = _run("bench/store_calls.py", "--turns", "20", "--rounds", "1")
    for kind in ("now", "before"):
        assert re.search(rf"{kind}\s+CPU [\d.]+ ms", out), out
    assert re.search(r"now / before CPU: [\d.]+", out), out


@pytest.mark.timeout(300)
def test_calls_counts_a_turns_calls_in_each_tree() -> None:
    # bench/calls_site counts inside ``serve`` between two signals: a server that no longer
    # writes its counts, or a turn that fails, ends the script with a message instead.
    out = _run_beside_itself("bench/calls.py", "--concurrency", "2", "--bursts", "1", "--top", "3")
    for tree in ("this", "again"):
        found = re.search(rf"^\s+{tree}\s+Python\s+([\d,]+)\s+C\s+([\d,]+)$", out, re.MULTILINE)
        assert found, f"no total for {tree}:\n{out}"
        assert int(found[1].replace(",", "")) > 100, out  # a turn runs hundreds of functions
    assert len(re.findall(r"^\s+[\d.]+\s+\S+:\S+", out, re.MULTILINE)) == 6, out


@pytest.mark.timeout(300)
def test_stream_memory_prints_each_heap_at_idle_in_a_burst_and_after() -> None:
    # bench/memory_site dumps inside ``serve`` on a signal: a server that no longer writes its
    # dump, or a stream that fails, ends the script with a message instead.
    out = _run("bench/stream_memory.py", "--streams", "20", "--at", "1", "--top", "3")
    cells = r"\s[\d.]+ MB\s+[\d.]+ MB\s+-?[\d.]+ KB\s+[\d.]+ MB\s+-?[\d.]+ KB$"  # idle, burst, after
    for label in ("resident \\(RSS\\)", "Python arenas", "C heap in use"):
        assert re.search(rf"{label}.*{cells}", out, re.MULTILINE), out
    assert "tracked objects left per stream once idle again" in out, out
    assert re.search(r"^\s+this\s+peak RSS\s+[\d.]+ MB, idle\s+[\d.]+ MB", out, re.MULTILINE), out


@pytest.mark.timeout(300)
def test_agent_prompts_prints_each_servers_cpu_per_request() -> None:
    out = _run_beside_itself("bench/agent_prompts.py", "--chars", "12000", "--requests", "2", "--rounds", "1")
    assert re.search(r"server\s+[\d.]+ \([\d.]+–[\d.]+\)", out), out
    # Two requests may take less CPU than the clock's 10 ms tick: then no ratio (a ZeroDivisionError
    # once, in session 14's make test).
    assert re.search(r"again\s+[\d.]+ \([\d.]+–[\d.]+\)\s+server / again (?:[\d.]+|n/a)", out), out
