"""Every DeepSeekHashV1 implementation against the shared vectors and against each other."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from deepseek_free_api.errors import PowError, UpstreamProtocolError
from deepseek_free_api.upstream.pow import (
    BackgroundSolver,
    NativeBackend,
    NumpyBackend,
    PowBackend,
    PowChallenge,
    ReferenceBackend,
    all_backends,
    default_backend,
    encode_header,
    native_kernels,
    solve,
    solve_async,
    with_threads,
)
from deepseek_free_api.upstream.pow import solver as solver_module
from deepseek_free_api.upstream.pow.reference import deepseek_hash_v1

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = all_backends()
FAST_BACKENDS = [backend for backend in BACKENDS if not isinstance(backend, ReferenceBackend)]
# Pure Python hashes ~3000/s: only vectors whose search stops early are run through it.
REFERENCE_BUDGET = 2_000


def ids(backends: list[PowBackend]) -> list[str]:
    return [backend.name for backend in backends]


def prefix_of(vector: dict[str, Any]) -> bytes:
    return f"{vector['salt']}_{vector['expire_at']}_".encode()


def search_cost(vector: dict[str, Any]) -> int:
    return vector["difficulty"] if vector["answer"] is None else vector["answer"] + 1


def test_native_core_is_built_here() -> None:
    # The dev install builds the C core; if this fails the suite would silently test only NumPy.
    assert native_kernels()[:1] == ("scalar",)


@pytest.mark.parametrize("backend", BACKENDS, ids=ids(BACKENDS))
def test_hash_vectors(pow_vectors: dict[str, Any], backend: PowBackend) -> None:
    for vector in pow_vectors["hashes"]:
        assert backend.digest(vector["input"].encode()).hex() == vector["hash"], vector["note"]


@pytest.mark.parametrize("backend", BACKENDS, ids=ids(BACKENDS))
@pytest.mark.parametrize("group", ["solves", "live_challenges", "unsolvable"])
def test_solve_vectors(pow_vectors: dict[str, Any], backend: PowBackend, group: str) -> None:
    checked = 0
    for vector in pow_vectors[group]:
        target, prefix = bytes.fromhex(vector["challenge"]), prefix_of(vector)
        if vector["answer"] is not None:
            assert backend.digest(prefix + str(vector["answer"]).encode()) == target
        if isinstance(backend, ReferenceBackend) and search_cost(vector) > REFERENCE_BUDGET:
            continue
        assert backend.search(target, prefix, vector["difficulty"]) == vector["answer"]
        checked += 1
    assert checked or isinstance(backend, ReferenceBackend)


def test_header_vector(pow_vectors: dict[str, Any]) -> None:
    fields = dict(pow_vectors["header"]["fields"])
    answer = fields.pop("answer")
    challenge = PowChallenge.from_json({**fields, "difficulty": 144000, "expire_at": 1775380966945})
    assert challenge.target_path == "/api/v0/chat/completion"
    assert solve(challenge) == answer
    assert encode_header(challenge, answer) == pow_vectors["header"]["x_ds_pow_response"]


def random_case(rng: random.Random, prefix_len: int) -> tuple[bytes, int, int]:
    prefix = bytes(rng.choice(b"0123456789abcdef_s") for _ in range(prefix_len))
    difficulty = rng.choice([1, 9, 10, 11, 99, 100, 101, 1000, 1500])
    answer = rng.randrange(difficulty)
    return prefix, difficulty, answer


# Prefix lengths around the 136-byte block: with 1-4 digits the message ends just before,
# exactly on, or just after a block boundary (one-byte 0x86 padding, a padding-only block, two
# blocks of digits), plus the usual 35-byte prefix and a long 300-byte one.
PREFIX_LENGTHS = [0, 1, 35, 127, 130, 131, 132, 133, 134, 135, 136, 137, 271, 272, 300]


@pytest.mark.parametrize("backend", FAST_BACKENDS, ids=ids(FAST_BACKENDS))
def test_random_challenges_agree_with_reference(backend: PowBackend) -> None:
    rng = random.Random(20261125)
    for prefix_len in PREFIX_LENGTHS:
        prefix, difficulty, answer = random_case(rng, prefix_len)
        target = deepseek_hash_v1(prefix + str(answer).encode())
        assert backend.search(target, prefix, difficulty) == answer, (prefix_len, difficulty, answer)
        # A challenge built from n = difficulty lies outside the range.
        outside = deepseek_hash_v1(prefix + str(difficulty).encode())
        assert backend.search(outside, prefix, difficulty) is None


def test_random_inputs_hash_alike_everywhere() -> None:
    rng = random.Random(7)
    for length in [*range(0, 140), 200, 271, 272, 273, 500]:
        data = rng.randbytes(length)
        expected = deepseek_hash_v1(data)
        for backend in FAST_BACKENDS:
            assert backend.digest(data) == expected, (backend.name, length)


def test_all_implementations_agree_on_random_solves() -> None:
    rng = random.Random(99)
    for _ in range(4):
        prefix = f"{rng.randbytes(10).hex()}_{rng.randrange(10**12, 10**13)}_".encode()
        answer = rng.randrange(3000)
        target = deepseek_hash_v1(prefix + str(answer).encode())
        answers = {backend.name: backend.search(target, prefix, 3000) for backend in FAST_BACKENDS}
        assert set(answers.values()) == {answer}, answers


def challenge_for(answer: int, difficulty: int | str | None = 5000, **overrides: Any) -> PowChallenge:
    fields: dict[str, Any] = {
        "algorithm": "DeepSeekHashV1",
        "salt": "0123456789abcdef0123",
        "signature": "ab" * 32,
        "difficulty": difficulty,
        "expire_at": 1760000000000,
        "expire_after": 300000,
        "target_path": "/api/v0/chat/completion",
    }
    prefix = f"{fields['salt']}_{fields['expire_at']}_".encode()
    fields["challenge"] = deepseek_hash_v1(prefix + str(answer).encode()).hex()
    fields.update(overrides)
    return PowChallenge.from_json(fields)


def test_difficulty_as_numeric_string_and_upper_case_challenge() -> None:
    challenge = challenge_for(4321, difficulty="5000")
    assert challenge.difficulty == 5000
    upper = PowChallenge.from_json({**challenge.__dict__, "challenge": challenge.challenge.upper()})
    assert solve(upper) == 4321
    assert solve(upper, NumpyBackend()) == 4321
    # The header echoes the challenge exactly as the server sent it.
    header = base64.b64decode(encode_header(upper, 4321)).decode()
    assert json.loads(header)["challenge"] == challenge.challenge.upper()


def test_challenge_fields_as_they_come() -> None:
    challenge = challenge_for(3, difficulty=None, expire_at="1760000000000")
    assert (challenge.difficulty, challenge.expire_at) == (144_000, 1760000000000)
    assert challenge.prefix == b"0123456789abcdef0123_1760000000000_"
    for bad in ({"challenge": "zz" * 32}, {"challenge": "ab" * 31}, {"difficulty": "lots"}, {"salt": 5}):
        with pytest.raises(UpstreamProtocolError):
            challenge_for(3, **bad)


def test_no_answer_in_range_is_a_clear_pow_error() -> None:
    with pytest.raises(PowError, match=r"no proof-of-work answer in \[0, 5000\)"):
        solve(challenge_for(5000))


def test_other_algorithm_is_refused_by_name() -> None:
    with pytest.raises(PowError, match="DeepSeekHashV2"):
        challenge_for(1, algorithm="DeepSeekHashV2")


def test_every_native_kernel_and_thread_count_finds_the_smallest_answer() -> None:
    # Chunks of 2048 are handed out in order; an answer in a late chunk must still be found
    # whatever thread takes it, and a scan must stop at the difficulty exactly.
    for kernel in native_kernels():
        for threads in (1, 2, 3, 8):
            backend = NativeBackend(kernel, threads)
            for answer in (0, 2047, 2048, 9999, 10000, 12287):
                assert solve(challenge_for(answer, difficulty=12288), backend) == answer


def test_native_rejects_unknown_kernel() -> None:
    with pytest.raises(ValueError, match="kernel"):
        NativeBackend("avx1024").search(bytes(32), b"x_", 10)


def test_solve_async_keeps_the_event_loop_running() -> None:
    async def main() -> tuple[int, int]:
        ticks = 0
        done = False

        async def ticker() -> None:
            nonlocal ticks
            while not done:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        # NumPy over a full difficulty keeps a worker thread busy for a while.
        answer = await solve_async(challenge_for(19_999, difficulty=20_000), NumpyBackend())
        done = True
        await task
        return answer, ticks

    answer, ticks = asyncio.run(main())
    assert answer == 19_999
    assert ticks > 1


def test_thread_cap_applies_to_the_native_core_only() -> None:
    assert with_threads(NativeBackend("scalar", 8), 1) == NativeBackend("scalar", 1)
    assert with_threads(NumpyBackend(), 1) == NumpyBackend()
    for kernel in native_kernels():
        assert solve(challenge_for(9_876, difficulty=12_288), NativeBackend(kernel, 4), threads=1) == 9_876


def test_background_solver_skips_a_challenge_no_longer_wanted() -> None:
    async def main() -> tuple[int | None, int | None]:
        solver = BackgroundSolver(NumpyBackend())
        try:
            skipped = await solver.solve(challenge_for(77), wanted=lambda: False)
            solved = await solver.solve(challenge_for(77), wanted=lambda: True)
        finally:
            solver.close()
        return skipped, solved

    assert asyncio.run(main()) == (None, 77)


def test_missing_native_core_falls_back_to_numpy_with_one_log_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(solver_module, "_load_native", lambda: None)
    default_backend.cache_clear()
    try:
        with caplog.at_level(logging.WARNING):
            backend = default_backend()
            default_backend()
            assert solve(challenge_for(77)) == 77
        assert isinstance(backend, NumpyBackend)
        assert len([r for r in caplog.records if "NumPy" in r.getMessage()]) == 1
    finally:
        default_backend.cache_clear()


def test_install_without_compiler_still_succeeds(tmp_path: Path) -> None:
    pytest.importorskip("setuptools")  # venvs of Python >= 3.12 come without it
    env = {"CC": "false", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--build-lib", str(tmp_path / "lib"),
         "--build-temp", str(tmp_path / "tmp")],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "NumPy fallback will be used" in result.stderr
    assert not list(tmp_path.rglob("_native*.so"))
