"""Proof-of-work solver speed: ``python bench/pow.py`` (or ``make bench-pow``).

Prints, for the worst case (difficulty 144000, no answer in range: the full scan) and the
average case (answers spread evenly over the range), the median time of each implementation
and its ratio to the baseline measured in the same run: the C core's scalar kernel on one
thread, which runs at about the speed of DeepSeek's own wasm on this machine class.

Implementations are measured round-robin (one run of each, then again), so load from other
processes falls on the baseline and on the others alike.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass, field

from deepseek_free_api.upstream.pow import (
    NativeBackend,
    NumpyBackend,
    PowBackend,
    ReferenceBackend,
    native_kernels,
)
from deepseek_free_api.upstream.pow.solver import usable_cpus

DIFFICULTY = 144_000
PREFIX = b"0123456789abcdef0123_1760000000000_"  # the usual 20-char salt and 13-digit expire_at
PYTHON_SAMPLE = 400  # hashes timed for pure Python, then scaled to the difficulty


@dataclass
class Row:
    label: str
    backend: PowBackend
    every: int = 1  # measured on every n-th round only (slow implementations)
    worst: list[float] = field(default_factory=list)
    average: list[float] = field(default_factory=list)


def timed_ms(backend: PowBackend, target: bytes, difficulty: int, expected: int | None) -> float:
    start = time.perf_counter()
    answer = backend.search(target, PREFIX, difficulty)
    elapsed = (time.perf_counter() - start) * 1000
    assert answer == expected, (backend.name, answer, expected)
    return elapsed


def spread_answers(spread: int) -> list[tuple[int, bytes]]:
    """Challenges whose answers sit at (k + 0.5) / spread of the range."""
    digest = NativeBackend("scalar").digest
    answers = [int((k + 0.5) * DIFFICULTY / spread) for k in range(spread)]
    return [(answer, digest(PREFIX + str(answer).encode())) for answer in answers]


def measure(rows: list[Row], rounds: int, spread: int) -> None:
    challenges = spread_answers(spread)
    for round_index in range(rounds):
        for row in rows:
            if round_index % row.every:
                continue
            if isinstance(row.backend, ReferenceBackend):
                sample = timed_ms(row.backend, bytes(32), PYTHON_SAMPLE, None)
                row.worst.append(sample * DIFFICULTY / PYTHON_SAMPLE)
                row.average.append(sample * DIFFICULTY / PYTHON_SAMPLE / 2)
                continue
            row.worst.append(timed_ms(row.backend, bytes(32), DIFFICULTY, None))
            answer, target = challenges[round_index % spread]
            row.average.append(timed_ms(row.backend, target, DIFFICULTY, answer))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=27, help="round-robin rounds")
    parser.add_argument("--spread", type=int, default=9, help="answer positions in the average case")
    args = parser.parse_args()
    kernels = native_kernels()
    if not kernels:
        raise SystemExit("the native core is not built: run `make test` (or pip install -e .) first")
    cpus = usable_cpus()
    rows = [Row("C core, scalar, 1 thread (baseline)", NativeBackend("scalar"))]
    rows += [Row(f"C core, {kernel}, 1 thread", NativeBackend(kernel)) for kernel in kernels[1:]]
    if cpus > 1:
        rows.append(Row(f"C core, {kernels[-1]}, {cpus} threads (best)", NativeBackend(kernels[-1], cpus)))
    rows.append(Row("NumPy fallback", NumpyBackend(), every=3))
    rows.append(Row(f"pure Python (scaled from {PYTHON_SAMPLE} hashes)", ReferenceBackend(), every=9))
    measure(rows, args.rounds, args.spread)

    print(
        f"DeepSeekHashV1 solve, difficulty {DIFFICULTY}, {cpus} usable CPU(s), kernels {', '.join(kernels)}"
    )
    print(f"median of {args.rounds} round-robin rounds; average case over {args.spread} answer positions")
    print("| implementation | worst case (ms) | × baseline | average case (ms) | × baseline |")
    print("|---|---:|---:|---:|---:|")
    base_worst, base_average = statistics.median(rows[0].worst), statistics.median(rows[0].average)
    for row in rows:
        worst, average = statistics.median(row.worst), statistics.median(row.average)
        print(
            f"| {row.label} | {worst:.1f} | {worst / base_worst:.2f} "
            f"| {average:.1f} | {average / base_average:.2f} |"
        )


if __name__ == "__main__":
    main()
