"""Solving DeepSeekHashV1 challenges: the three implementations and the choice between them.

* ``NativeBackend``: the C core (``_native``), several nonces per pass (AVX2 / SSE2 / NEON
  lanes, picked by a CPU check at run time) and one solve split over threads. The default.
* ``NumpyBackend``: the vectorised fallback, used automatically (one warning) when the C core
  was not built.
* ``ReferenceBackend``: plain Python, ~0.3 ms per hash; for tests and tiny difficulties only.

A request that found no pre-solved answer solves in the foreground on every CPU (``solve_async``);
refills of pre-solved answers go to ``BackgroundSolver``: one low-priority thread, one nonce
stream, one challenge at a time, so they never take more than one core from live streams.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol

from ...errors import PowError
from . import reference
from .challenge import PowChallenge

logger = logging.getLogger(__name__)


class PowBackend(Protocol):
    """One implementation of DeepSeekHashV1 and of the nonce search."""

    @property
    def name(self) -> str:
        """Short label for logs and benchmarks."""
        ...

    def digest(self, data: bytes) -> bytes:
        """DeepSeekHashV1 of ``data`` (32 bytes)."""
        ...

    def search(self, target: bytes, prefix: bytes, difficulty: int) -> int | None:
        """Smallest n in ``[0, difficulty)`` whose hash of ``prefix + str(n)`` is ``target``."""
        ...


def _load_native() -> ModuleType | None:
    try:
        from . import _native
    except ImportError:
        return None
    module: ModuleType = _native
    return module


def native_kernels() -> tuple[str, ...]:
    """Kernels of the C core usable on this CPU, slowest first; empty when it is not built."""
    native = _load_native()
    if native is None:
        return ()
    kernels: tuple[str, ...] = native.kernels()
    return kernels


def usable_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class NativeBackend:
    """The C core with one kernel (``"scalar"``, ``"sse2"``/``"neon"``, ``"avx2"``)."""

    kernel: str
    threads: int = 1

    @property
    def name(self) -> str:
        return f"native-{self.kernel}-x{self.threads}"

    def digest(self, data: bytes) -> bytes:
        result: bytes = self._module().hash(data)
        return result

    def search(self, target: bytes, prefix: bytes, difficulty: int) -> int | None:
        answer: int = self._module().solve(target, prefix, difficulty, self.kernel, self.threads)
        return None if answer < 0 else answer

    @staticmethod
    def _module() -> ModuleType:
        native = _load_native()
        if native is None:
            raise PowError("the native proof-of-work core is not built")
        return native


@dataclass(frozen=True)
class NumpyBackend:
    """The vectorised NumPy solver."""

    @property
    def name(self) -> str:
        return "numpy"

    def digest(self, data: bytes) -> bytes:
        from . import vectorised

        return vectorised.digest(data)

    def search(self, target: bytes, prefix: bytes, difficulty: int) -> int | None:
        from . import vectorised

        return vectorised.search(target, prefix, difficulty)


@dataclass(frozen=True)
class ReferenceBackend:
    """The readable pure-Python definition (tests only: a real challenge takes ~40 s)."""

    @property
    def name(self) -> str:
        return "reference"

    def digest(self, data: bytes) -> bytes:
        return reference.deepseek_hash_v1(data)

    def search(self, target: bytes, prefix: bytes, difficulty: int) -> int | None:
        return reference.solve_reference(target, prefix, difficulty)


def all_backends(include_reference: bool = True) -> list[PowBackend]:
    """Every implementation available here: each native kernel single-threaded, the best one on
    all CPUs, NumPy, and (optionally) the reference."""
    kernels = native_kernels()
    backends: list[PowBackend] = [NativeBackend(kernel) for kernel in kernels]
    if kernels and usable_cpus() > 1:
        backends.append(NativeBackend(kernels[-1], threads=usable_cpus()))
    backends.append(NumpyBackend())
    if include_reference:
        backends.append(ReferenceBackend())
    return backends


@functools.cache
def default_backend() -> PowBackend:
    """The fastest implementation here: the best native kernel on every CPU, else NumPy."""
    kernels = native_kernels()
    if kernels:
        return NativeBackend(kernels[-1], threads=min(usable_cpus(), 16))
    logger.warning("native proof-of-work core not built; using the slower NumPy solver")
    return NumpyBackend()


def deepseek_hash_v1(data: bytes) -> bytes:
    """DeepSeekHashV1 digest (32 bytes) of ``data`` with the fastest implementation."""
    return default_backend().digest(data)


def with_threads(backend: PowBackend, threads: int) -> PowBackend:
    """``backend`` splitting one solve over at most ``threads`` threads (only the C core splits)."""
    if isinstance(backend, NativeBackend) and backend.threads != threads:
        return dataclasses.replace(backend, threads=max(1, threads))
    return backend


def solve(challenge: PowChallenge, backend: PowBackend | None = None, *, threads: int | None = None) -> int:
    """The answer to ``challenge``; raises ``PowError`` when no n in ``[0, difficulty)`` fits.

    ``threads`` caps how many threads the search may use (default: the backend's own).
    """
    backend = backend or default_backend()
    if threads is not None:
        backend = with_threads(backend, threads)
    answer = backend.search(challenge.target, challenge.prefix, challenge.difficulty)
    if answer is None:
        raise PowError(
            f"no proof-of-work answer in [0, {challenge.difficulty}) for challenge "
            f"{challenge.challenge[:16]}… (target {challenge.target_path})"
        )
    return answer


async def solve_async(
    challenge: PowChallenge,
    backend: PowBackend | None = None,
    executor: Executor | None = None,
    *,
    threads: int | None = None,
) -> int:
    """``solve`` in a worker thread, so the event loop keeps running (the C core drops the GIL)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, functools.partial(solve, challenge, backend, threads=threads))


# Added to the solving thread's nice value: below live streams, still progressing on an idle host.
BACKGROUND_NICENESS = 10


class BackgroundSolver:
    """One dedicated low-priority thread solving one challenge at a time on one core.

    The thread starts on the first ``solve`` and its nice value is raised on Linux (per thread,
    by its native id), so the scheduler prefers the event loop and foreground solves over it.
    """

    def __init__(self, backend: PowBackend | None = None, *, niceness: int = BACKGROUND_NICENESS) -> None:
        self._backend = backend
        self._niceness = niceness
        self._executor: ThreadPoolExecutor | None = None

    async def solve(self, challenge: PowChallenge, *, wanted: Callable[[], bool] | None = None) -> int | None:
        """The answer; None when ``wanted()`` was false as the thread reached it (e.g. expired)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=1,
                thread_name_prefix="pow-background",
                initializer=_lower_priority,
                initargs=(self._niceness,),
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, challenge, wanted)

    def _run(self, challenge: PowChallenge, wanted: Callable[[], bool] | None) -> int | None:
        if wanted is not None and not wanted():
            return None
        return solve(challenge, self._backend or default_backend(), threads=1)

    def close(self) -> None:
        """Drop queued solves and let the thread end after the one it is running (if any)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


def _lower_priority(niceness: int) -> None:
    """Raise the calling thread's nice value by ``niceness`` (Linux only; per-thread there)."""
    if not sys.platform.startswith("linux") or niceness <= 0:
        return  # elsewhere PRIO_PROCESS with a thread id would name a process, not this thread
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + niceness))
    except OSError as exc:  # e.g. a sandbox forbids it: solve at normal priority
        logger.debug("could not lower the background solver's priority: %s", exc)
