"""Proof-of-work challenges as ``chat/create_pow_challenge`` issues them, and strict checking.

A challenge is DeepSeekHashV1(f"{salt}_{expire_at}_{answer}") for a random answer below the
difficulty (PROTOCOL.md §3.2–3.6). The signature is an HMAC over the fields with a secret of this
process; the answer must be right, unexpired, for this path, and is accepted once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

# The fastest checked implementation (native C core; NumPy when it is not built): 3 µs, not 0.5 ms.
from ..upstream.pow import deepseek_hash_v1

ALGORITHM = "DeepSeekHashV1"
# Paths whose calls need X-Ds-Pow-Response (NIY ref "PoW target_path mapping"; SRC-59133341063).
POW_PATHS = frozenset(
    {
        "/api/v0/chat/completion",
        "/api/v0/chat/edit_message",
        "/api/v0/chat/regenerate",
        "/api/v0/file/upload_file",
    }
)


class PowRejected(Exception):
    """The header is missing or wrong; ``reason`` says why (for /_sim/state, never sent)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Challenge:
    """One issued challenge."""

    challenge: str
    salt: str
    signature: str
    difficulty: int
    expire_at: int
    expire_after: int
    target_path: str

    def to_json(self) -> dict[str, Any]:
        """``biz_data.challenge`` of the create_pow_challenge answer."""
        return {
            "algorithm": ALGORITHM,
            "challenge": self.challenge,
            "salt": self.salt,
            "signature": self.signature,
            "difficulty": self.difficulty,
            "expire_at": self.expire_at,
            "expire_after": self.expire_after,
            "target_path": self.target_path,
        }


class PowIssuer:
    """Issues challenges and checks answers; remembers used ones until they expire."""

    def __init__(self, difficulty: int, expire_after_ms: int) -> None:
        self.difficulty = difficulty
        self.expire_after_ms = expire_after_ms
        self._secret = secrets.token_bytes(32)
        # In the order they were added, which is (about) the order they expire in: the expired are
        # taken from the front, a few at a time. (A scan of both tables on every call once they
        # held 4,096 entries slowed the simulator from one 1,000-stream round to the next.)
        self._used: OrderedDict[str, int] = OrderedDict()  # challenge -> expire_at
        self._issued: OrderedDict[str, int] = OrderedDict()  # signature -> expire_at

    def restart(self) -> None:
        """Forget every challenge issued, as DeepSeek's side does when it restarts or rotates keys."""
        self._secret = secrets.token_bytes(32)
        self._used.clear()
        self._issued.clear()

    def _sign(self, challenge: str, salt: str, expire_at: int, target_path: str) -> str:
        message = f"{ALGORITHM}|{challenge}|{salt}|{self.difficulty}|{expire_at}|{target_path}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def issue(self, target_path: str) -> Challenge:
        """A new challenge for ``target_path``."""
        salt = secrets.token_hex(10)
        expire_at = int(time.time() * 1000) + self.expire_after_ms
        answer = secrets.randbelow(self.difficulty)
        digest = deepseek_hash_v1(f"{salt}_{expire_at}_{answer}".encode()).hex()
        signature = self._sign(digest, salt, expire_at, target_path)
        self._forget_expired()
        self._issued[signature] = expire_at
        return Challenge(
            digest, salt, signature, self.difficulty, expire_at, self.expire_after_ms, target_path
        )

    def check(self, header: str | None, path: str) -> None:
        """Accept a valid, fresh, unused answer for ``path``; raise PowRejected otherwise."""
        if not header:
            raise PowRejected("missing header")
        try:
            data = json.loads(base64.b64decode(header, validate=True))
        except (binascii.Error, ValueError) as exc:
            raise PowRejected("not base64 JSON") from exc
        if not isinstance(data, dict):
            raise PowRejected("not a JSON object")
        if data.get("algorithm") != ALGORITHM:
            raise PowRejected("wrong algorithm")
        fields = {k: data.get(k) for k in ("challenge", "salt", "signature", "target_path")}
        if not all(isinstance(v, str) for v in fields.values()):
            raise PowRejected("missing field")
        answer = data.get("answer")
        if not isinstance(answer, int) or isinstance(answer, bool) or not 0 <= answer < self.difficulty:
            raise PowRejected("answer out of range")
        if fields["target_path"] != path:
            raise PowRejected("target_path does not match the request path")
        expire_at = self._find_expiry(fields)
        if expire_at < int(time.time() * 1000):
            raise PowRejected("expired")
        challenge = str(fields["challenge"])
        if challenge in self._used:
            raise PowRejected("reused")
        if deepseek_hash_v1(f"{fields['salt']}_{expire_at}_{answer}".encode()).hex() != challenge:
            raise PowRejected("wrong answer")
        self._forget_expired()
        self._used[challenge] = expire_at

    def _find_expiry(self, fields: dict[str, Any]) -> int:
        # The header carries no expire_at: the signature binds it, so look it up by the signature.
        expire_at = self._issued.get(fields["signature"])
        if expire_at is None or not hmac.compare_digest(
            self._sign(fields["challenge"], fields["salt"], expire_at, fields["target_path"]),
            fields["signature"],
        ):
            raise PowRejected("bad signature")
        return expire_at

    def _forget_expired(self) -> None:
        # Keep a minute of grace so a late answer is reported as expired, not as unknown.
        now = int(time.time() * 1000) - 60_000
        for table in (self._used, self._issued):
            while table and next(iter(table.values())) < now:
                table.popitem(last=False)
