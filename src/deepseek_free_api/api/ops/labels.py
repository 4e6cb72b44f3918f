"""Labels for metrics and log lines: safe to show, and few whatever callers send.

Every label value comes from a bounded set (route templates, canonical model names, configured
keys, error classes), so no request can grow the metrics without bound, and none carries a key
or a token: a service key is shown as a digest of it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from deepseek_free_api.chat.models import ModelSpec

ANONYMOUS = "anonymous"
ADMIN = "admin"
CALLER_TOKEN = "caller-token"
NONE = "-"

_MODEL_BASES = {"default": "deepseek-v4-flash", "expert": "deepseek-v4-pro", "vision": "deepseek-v4-vision"}
_DIALECTS = (
    ("/v1/chat/completions", "openai"),
    ("/v1/responses", "responses"),
    ("/v1/messages", "anthropic"),
)
# Digits of a key's digest in its label: enough to tell a few hundred keys apart, far too few
# (and salted by purpose) to help anyone guess the key.
_KEY_DIGITS = 8


def model_label(model: ModelSpec) -> str:
    """What DeepSeek was asked for, in its canonical V4 name (``claude-*``, ``deepseek-r1``… fold in)."""
    name = _MODEL_BASES[model.model_type] + ("" if model.thinking else "-nothinking")
    return name + ("-search" if model.search else "")


def dialect_of(route: str) -> str:
    """The public API a route template belongs to (``openai``, ``responses``, ``anthropic``) or ``-``."""
    for prefix, dialect in _DIALECTS:
        if route.startswith(prefix):
            return dialect
    return NONE


def key_digest_label(key: str) -> str:
    """``key-`` and a short digest of a service key: names the key without revealing it."""
    return "key-" + hashlib.sha256(b"deepseek-free-api/key-label\0" + key.encode()).hexdigest()[:_KEY_DIGITS]


def account_label(account_id: str) -> str:
    """An account id for a log line: a derived ``acct-`` id is cut to 4 hex digits, a configured name kept."""
    return account_id[:9] if account_id.startswith("acct-") else account_id


class KeyLabels:
    """Who called, as a label: a service key's name, ``admin``, ``anonymous`` or ``caller-token``.

    The one place that names callers in metrics and logs: once callers are Principals, this is
    where the Principal's name takes over.
    """

    def __init__(self, api_keys: Sequence[str], admin_keys: Sequence[str] = ()) -> None:
        self._keys = [(key.encode(), key_digest_label(key)) for key in api_keys]
        self._keys += [(key.encode(), ADMIN) for key in admin_keys]

    def label(self, credential: str | None) -> str:
        """The label for the credential a request presented (compared in constant time)."""
        if credential is None:
            return ANONYMOUS
        presented = credential.encode()
        found = CALLER_TOKEN
        for key, label in self._keys:
            if hmac.compare_digest(presented, key):
                found = label
        return found
