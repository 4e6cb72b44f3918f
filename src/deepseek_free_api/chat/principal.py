"""Who is calling: the owner of conversations and stored responses, and the unit of limits.

A principal is a service key, a caller's own DeepSeek tokens, or nobody in particular (anonymous
use of the server's accounts). It is known by a digest of its credential, never the credential,
and holds a second secret derived from the credential (a different digest, so the first cannot
be turned into it) that keys the marks it puts on what it owns: another credential cannot make
the same mark, and nothing has to be stored for it to be checked again after a restart.

A service key kept in the store (``keys create``) also carries its name and limits: the name is
what usage is counted under and limits are enforced for; every other principal is labelled by
its kind and the start of its digest (``key:1a2b3c4d``, ``tokens:…``, ``anonymous``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from deepseek_free_api.stores.protocols import KeyLimits

PrincipalKind = Literal["key", "tokens", "anonymous"]
MARK_DIGITS = 16  # 64 bits: guessed online, one request per try


def _digest(purpose: str, kind: PrincipalKind, credential: str) -> bytes:
    return hashlib.sha256(f"deepseek-free-api/{purpose}\0{kind}\0{credential}".encode()).digest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling; equal principals own the same things."""

    kind: PrincipalKind
    id: str  # a digest that names the credential without revealing it
    secret: bytes = field(repr=False, compare=False)
    name: str = field(default="", compare=False)  # a stored service key's name; "" otherwise
    limits: KeyLimits | None = field(default=None, compare=False)  # a stored key's; None: no limits

    @classmethod
    def of(cls, kind: PrincipalKind, credential: str) -> Principal:
        """The principal a credential stands for."""
        return cls(kind, _digest("principal", kind, credential).hex()[:32], _digest("mark", kind, credential))

    @classmethod
    def service_key(cls, key: str, *, name: str = "", limits: KeyLimits | None = None) -> Principal:
        """A service API key of this server (with its name and limits if it is kept in the store)."""
        principal = cls.of("key", key)
        return cls(principal.kind, principal.id, principal.secret, name, limits)

    @property
    def label(self) -> str:
        """What usage is counted under and limits hold for: a stored key's name, else a digest's start."""
        if self.name:
            return self.name
        return "anonymous" if self.kind == "anonymous" else f"{self.kind}:{self.id[:8]}"

    @classmethod
    def caller_tokens(cls, tokens: Iterable[str]) -> Principal:
        """A caller using their own DeepSeek tokens (the same set in any order is the same caller)."""
        return cls.of("tokens", ",".join(sorted(set(tokens))))

    def mark(self, text: str) -> str:
        """A short keyed MAC of ``text``: only this principal's credential makes the same mark."""
        return hmac.new(self.secret, text.encode(), hashlib.sha256).hexdigest()[:MARK_DIGITS]

    def marked(self, text: str, mark: str) -> bool:
        """Whether ``mark`` is this principal's mark of ``text`` (constant time)."""
        return hmac.compare_digest(self.mark(text), mark)


# Everyone without a credential is the same caller: what one anonymous caller starts, another may
# continue (anonymous use is open to all by the operator's choice).
ANONYMOUS = Principal.of("anonymous", "")
