"""NumPy DeepSeekHashV1 solver: the fallback when the C core could not be built.

Hashes a few thousand nonces at once: the Keccak state is a ``(25, N)`` array of uint64 lanes,
one column per nonce, and each step of a round is a handful of whole-array operations.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .reference import RATE, ROUND_CONSTANTS, keccak_f, pad

Lanes = npt.NDArray[np.uint64]

_WORDS = RATE // 8
# Nonces per pass. Measured on a 2-vCPU EPYC (2026-11), worst case 144 000: 4096 -> 310 ms,
# 8192 -> 284 ms, 16384 -> 266 ms, 32768 -> 354 ms (arrays fall out of cache).
CHUNK = 16384

# Rotation offset of lane x + 5y, and where ρ/π move it: lane i goes to position _PI[i].
_ROT = (0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14)
_PI = tuple(y + 5 * ((2 * x + 3 * y) % 5) for y in range(5) for x in range(5))
# (destination, source lane, column, left shift, right shift) for the fused θ-ρ-π step.
_MOVES = tuple((_PI[i], i, i % 5, np.uint64(_ROT[i]), np.uint64(64 - _ROT[i])) for i in range(25))
_RC = np.array(ROUND_CONSTANTS, dtype=np.uint64)
_ONE = np.uint64(1)
_63 = np.uint64(63)


class _Keccak:
    """Scratch buffers for permuting ``n`` states side by side."""

    def __init__(self, n: int) -> None:
        self.c = np.empty((5, n), dtype=np.uint64)
        self.r = np.empty((5, n), dtype=np.uint64)
        self.d = np.empty((5, n), dtype=np.uint64)
        self.b = np.empty((25, n), dtype=np.uint64)
        self.t = np.empty((25, n), dtype=np.uint64)
        self.row = np.empty(n, dtype=np.uint64)

    def permute(self, a: Lanes) -> None:
        """Rounds 1 … 23 of Keccak-f[1600] on the columns of ``a`` (shape (25, n)), in place."""
        c, r, d, b, t, row = self.c, self.r, self.d, self.b, self.t, self.row
        a3, b3, t3 = a.reshape(5, 5, -1), b.reshape(5, 5, -1), t.reshape(5, 5, -1)
        xor, shl, shr = np.bitwise_xor, np.left_shift, np.right_shift
        for rc in _RC[1:]:
            # θ: column parities C, then D[x] = C[x-1] ^ rotl(C[x+1], 1).
            xor(a3[0], a3[1], out=c)
            c ^= a3[2]
            c ^= a3[3]
            c ^= a3[4]
            shl(c, _ONE, out=r)
            shr(c, _63, out=d)
            r |= d
            xor(c[4], r[1], out=d[0])
            xor(c[0:3], r[2:5], out=d[1:4])
            xor(c[3], r[0], out=d[4])
            # θ applied lane by lane, fused with ρ (rotate) and π (move): B[j] = rotl(A[i] ^ D[x], r).
            for j, i, x, left, right in _MOVES:
                if left:
                    xor(a[i], d[x], out=row)
                    shl(row, left, out=b[j])
                    row >>= right
                    b[j] |= row
                else:
                    xor(a[i], d[x], out=b[j])
            # χ: A = B ^ (~B[x+1] & B[x+2]) within each row of five; ι on lane 0.
            np.invert(b3[:, 1:5], out=t3[:, 0:4])
            np.invert(b3[:, 0], out=t3[:, 4])
            t3[:, 0:3] &= b3[:, 2:5]
            t3[:, 3:5] &= b3[:, 0:2]
            xor(b, t, out=a)
            a[0] ^= rc


def _words(block: bytes) -> list[int]:
    return [int.from_bytes(block[8 * k : 8 * k + 8], "little") for k in range(len(block) // 8)]


def _digit_columns(numbers: npt.NDArray[np.int64], digits: int) -> npt.NDArray[np.uint8]:
    """ASCII decimal digits of ``numbers`` (all with ``digits`` digits), shape (N, digits)."""
    powers = 10 ** np.arange(digits - 1, -1, -1, dtype=np.int64)
    return (numbers[:, None] // powers % 10 + ord("0")).astype(np.uint8)


def hash_many(prefix: bytes, numbers: npt.NDArray[np.int64], digits: int, keccak: _Keccak) -> Lanes:
    """First four digest lanes (shape (4, N)) of ``prefix + str(n)`` for each n (all ``digits`` long)."""
    full = len(prefix) // RATE * RATE
    base = [0] * 25
    for offset in range(0, full, RATE):
        for k, word in enumerate(_words(prefix[offset : offset + RATE])):
            base[k] ^= word
        keccak_f(base)
    tail = len(prefix) - full
    blocks = (tail + digits) // RATE + 1
    template = bytearray(blocks * RATE)
    template[:tail] = prefix[full:]
    template[tail + digits] ^= 0x06
    template[-1] |= 0x80
    n = len(numbers)
    message = np.tile(np.frombuffer(bytes(template), dtype=np.uint8), (n, 1))
    message[:, tail : tail + digits] = _digit_columns(numbers, digits)
    words = message.view("<u8").T  # (blocks * 17, N)
    state = np.empty((25, n), dtype=np.uint64)
    state[:] = np.array(base, dtype=np.uint64)[:, None]
    for block in range(blocks):
        state[:_WORDS] ^= words[block * _WORDS : (block + 1) * _WORDS]
        keccak.permute(state)
    return state[:4]


def digest(data: bytes) -> bytes:
    """DeepSeekHashV1 of ``data`` through the vectorised permutation (one column)."""
    padded = pad(data)
    state = np.zeros((25, 1), dtype=np.uint64)
    keccak = _Keccak(1)
    for offset in range(0, len(padded), RATE):
        state[:_WORDS, 0] ^= np.array(_words(bytes(padded[offset : offset + RATE])), dtype=np.uint64)
        keccak.permute(state)
    return b"".join(int(lane).to_bytes(8, "little") for lane in state[:4, 0])


def search(target: bytes, prefix: bytes, difficulty: int, chunk: int = CHUNK) -> int | None:
    """Smallest n in ``[0, difficulty)`` with DeepSeekHashV1(prefix + str(n)) == target, or None."""
    goal = np.frombuffer(target, dtype="<u8").astype(np.uint64)
    scratch: dict[int, _Keccak] = {}
    start = 0
    while start < difficulty:
        digits = len(str(start))
        end = min(difficulty, 10**digits, start + chunk)
        numbers = np.arange(start, end, dtype=np.int64)
        keccak = scratch.get(len(numbers)) or scratch.setdefault(len(numbers), _Keccak(len(numbers)))
        lanes = hash_many(prefix, numbers, digits, keccak)
        for column in np.flatnonzero(lanes[0] == goal[0]):
            if all(lanes[k, column] == goal[k] for k in range(1, 4)):
                return start + int(column)
        start = end
    return None
