"""Plain-Python DeepSeekHashV1: the readable definition, used by tests and the simulator.

DeepSeekHashV1 is SHA3-256 whose Keccak-f[1600] permutation skips round 0 (PROTOCOL.md §3.3).
About 0.3 ms per hash: fine for checking one answer, far too slow to solve a real challenge.
"""

from __future__ import annotations

RATE = 136
_MASK = (1 << 64) - 1

ROUND_CONSTANTS = (
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
)  # fmt: skip

# Rotation offsets r[x][y], lane index x + 5*y.
_ROTATIONS = (
    (0, 36, 3, 41, 18),
    (1, 44, 10, 45, 2),
    (62, 6, 43, 15, 61),
    (28, 55, 25, 21, 56),
    (27, 20, 39, 8, 14),
)


def _rotl(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (64 - shift))) & _MASK if shift else value


def keccak_f(state: list[int], first_round: int = 1) -> None:
    """Permute ``state`` (25 lanes) in place with rounds ``first_round`` … 23."""
    for rc in ROUND_CONSTANTS[first_round:]:
        c = [state[x] ^ state[x + 5] ^ state[x + 10] ^ state[x + 15] ^ state[x + 20] for x in range(5)]
        d = [c[(x - 1) % 5] ^ _rotl(c[(x + 1) % 5], 1) for x in range(5)]
        for i in range(25):
            state[i] ^= d[i % 5]
        b = [0] * 25
        for x in range(5):
            for y in range(5):
                b[y + 5 * ((2 * x + 3 * y) % 5)] = _rotl(state[x + 5 * y], _ROTATIONS[x][y])
        for x in range(5):
            for y in range(5):
                i = x + 5 * y
                state[i] = b[i] ^ (~b[(x + 1) % 5 + 5 * y] & b[(x + 2) % 5 + 5 * y])
        state[0] ^= rc


def pad(data: bytes) -> bytearray:
    """``data`` with SHA3's domain byte and pad10*1, a whole number of ``RATE``-byte blocks."""
    padded = bytearray(data)
    padded.append(0x06)
    padded.extend(b"\x00" * (-len(padded) % RATE))
    padded[-1] |= 0x80
    return padded


def sha3_256_variant(data: bytes, first_round: int = 1) -> bytes:
    """SHA3-256 with rounds ``first_round`` … 23; ``first_round=0`` is standard SHA3-256."""
    padded = pad(data)
    state = [0] * 25
    for offset in range(0, len(padded), RATE):
        block = padded[offset : offset + RATE]
        for i in range(RATE // 8):
            state[i] ^= int.from_bytes(block[8 * i : 8 * i + 8], "little")
        keccak_f(state, first_round)
    return b"".join(lane.to_bytes(8, "little") for lane in state[:4])


def deepseek_hash_v1(data: bytes) -> bytes:
    """DeepSeekHashV1 digest (32 bytes) of ``data``."""
    return sha3_256_variant(data, first_round=1)


def solve_reference(challenge: bytes, prefix: bytes, difficulty: int) -> int | None:
    """Scan ``n`` in ``[0, difficulty)`` for ``hash(prefix + str(n)) == challenge``; None if absent."""
    for n in range(difficulty):
        if deepseek_hash_v1(prefix + str(n).encode()) == challenge:
            return n
    return None
