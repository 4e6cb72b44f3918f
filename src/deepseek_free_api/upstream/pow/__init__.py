"""DeepSeek proof of work (PROTOCOL.md §3): DeepSeekHashV1, solving, the header, pre-solving.

Importing this package does no work: the native core and NumPy load on first use.
"""

from __future__ import annotations

from .challenge import ALGORITHM, PowAnswer, PowChallenge, encode_header
from .presolver import FetchChallenge, PowPresolver
from .solver import (
    BackgroundSolver,
    NativeBackend,
    NumpyBackend,
    PowBackend,
    ReferenceBackend,
    all_backends,
    deepseek_hash_v1,
    default_backend,
    native_kernels,
    solve,
    solve_async,
    with_threads,
)

__all__ = [
    "ALGORITHM",
    "BackgroundSolver",
    "FetchChallenge",
    "NativeBackend",
    "NumpyBackend",
    "PowAnswer",
    "PowBackend",
    "PowChallenge",
    "PowPresolver",
    "ReferenceBackend",
    "all_backends",
    "deepseek_hash_v1",
    "default_backend",
    "encode_header",
    "native_kernels",
    "solve",
    "solve_async",
    "with_threads",
]
