"""A DeepSeek proof-of-work challenge as it arrives, and the header that carries its answer.

Wire facts (PROTOCOL.md §3.2, §3.5): ``POST /api/v0/chat/create_pow_challenge`` returns
``biz_data.challenge`` = {algorithm, challenge, salt, signature, difficulty, expire_at,
expire_after, target_path}; the answer travels as ``X-Ds-Pow-Response`` = standard base64 of
compact JSON {algorithm, challenge, salt, answer, signature, target_path} in that key order.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass

from ...errors import PowError, UpstreamProtocolError

ALGORITHM = "DeepSeekHashV1"
# Every sample 2025-01 .. 2026-09 says 144000; DS2-go assumes it when the field is missing.
DEFAULT_DIFFICULTY = 144_000
# Difficulties above this would take minutes even natively; treat them as a broken challenge.
MAX_DIFFICULTY = 1 << 40


@dataclass(frozen=True)
class PowChallenge:
    """One challenge from ``create_pow_challenge``; ``challenge`` is kept as sent (any hex case)."""

    algorithm: str
    challenge: str
    salt: str
    signature: str
    difficulty: int
    expire_at: int  # Unix time in milliseconds
    target_path: str
    expire_after: int | None = None  # milliseconds; 300000 in every sample

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> PowChallenge:
        """Parse ``biz_data.challenge``; refuses unknown algorithms and malformed fields."""
        algorithm = data.get("algorithm")
        if algorithm != ALGORITHM:
            raise PowError(f"unsupported proof-of-work algorithm {algorithm!r} (only {ALGORITHM} is known)")
        challenge = _text(data, "challenge")
        try:
            raw = bytes.fromhex(challenge)
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise UpstreamProtocolError(f"proof-of-work challenge is not 64 hex characters: {challenge!r}")
        difficulty = _integer(data, "difficulty", DEFAULT_DIFFICULTY)
        if not 0 < difficulty <= MAX_DIFFICULTY:
            raise UpstreamProtocolError(f"proof-of-work difficulty out of range: {difficulty}")
        expire_after = _integer(data, "expire_after", 0) or None
        return cls(
            algorithm=algorithm,
            challenge=challenge,
            salt=_text(data, "salt"),
            signature=_text(data, "signature"),
            difficulty=difficulty,
            expire_at=_integer(data, "expire_at", None),
            target_path=_text(data, "target_path"),
            expire_after=expire_after,
        )

    @property
    def target(self) -> bytes:
        """The 32-byte digest to find (hex decoded case-insensitively, like the official wasm)."""
        return bytes.fromhex(self.challenge)

    @property
    def prefix(self) -> bytes:
        """The hashed bytes before the nonce: ``f"{salt}_{expire_at}_"``."""
        return f"{self.salt}_{self.expire_at}_".encode()


@dataclass(frozen=True)
class PowAnswer:
    """A solved challenge, ready to be sent once."""

    challenge: PowChallenge
    answer: int

    def header(self) -> str:
        """The ``X-Ds-Pow-Response`` header value."""
        return encode_header(self.challenge, self.answer)


def encode_header(challenge: PowChallenge, answer: int) -> str:
    """Base64 of the compact JSON the web client sends, keys in the web's order."""
    payload = {
        "algorithm": challenge.algorithm,
        "challenge": challenge.challenge,
        "salt": challenge.salt,
        "answer": answer,
        "signature": challenge.signature,
        "target_path": challenge.target_path,
    }
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return base64.b64encode(text.encode()).decode("ascii")


def _text(data: Mapping[str, object], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise UpstreamProtocolError(f"proof-of-work challenge field {key!r} missing or not a string")
    return value


def _integer(data: Mapping[str, object], key: str, default: int | None) -> int:
    """An int field that may also come as a numeric string (seen from one client, 2026)."""
    value = data.get(key)
    if value is None and default is not None:
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    raise UpstreamProtocolError(f"proof-of-work challenge field {key!r} is not an integer: {value!r}")
