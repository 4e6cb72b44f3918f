"""Who is calling: a service API key (server accounts) or the caller's own DeepSeek tokens."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from starlette.requests import Request

from deepseek_free_api.chat.failover import Caller
from deepseek_free_api.errors import AuthenticationError


def presented_credential(request: Request) -> str | None:
    """The bearer token or ``x-api-key`` header, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    api_key = request.headers.get("x-api-key", "").strip()
    return api_key or None


def is_service_key(credential: str, keys: Sequence[str]) -> bool:
    """Constant-time comparison against every configured key."""
    found = False
    for key in keys:
        found |= hmac.compare_digest(credential.encode(), key.encode())
    return found


def resolve_caller(
    credential: str | None, *, api_keys: Sequence[str], allow_anonymous: bool, has_server_accounts: bool
) -> Caller:
    """Decide which accounts may serve this caller.

    A service API key (or, only when ``allow_anonymous`` is set, no credential at all) unlocks the
    server's own accounts. Any other bearer value is taken as the caller's own DeepSeek tokens,
    ``T1,T2,...``, as the original server did.
    """
    if credential and api_keys and is_service_key(credential, api_keys):
        return _server_caller(has_server_accounts)
    if credential:
        tokens = tuple(token.strip() for token in credential.split(",") if token.strip())
        if tokens:
            return Caller(tokens=tokens)
    if allow_anonymous:
        return _server_caller(has_server_accounts)
    raise AuthenticationError(
        "Missing credentials: send 'Authorization: Bearer <service API key>' for this server's accounts, "
        "or 'Authorization: Bearer <DeepSeek userToken>[,<token>...]' to use your own"
    )


def _server_caller(has_server_accounts: bool) -> Caller:
    if not has_server_accounts:
        raise AuthenticationError(
            "This server has no DeepSeek accounts configured: send your own DeepSeek userToken as the "
            "bearer token"
        )
    return Caller()
