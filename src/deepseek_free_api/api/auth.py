"""Who is calling: a service API key (server accounts), the caller's own DeepSeek tokens, or anonymous."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from starlette.requests import Request

from deepseek_free_api.chat.failover import Caller
from deepseek_free_api.chat.principal import ANONYMOUS, Principal
from deepseek_free_api.config import token_problem
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
    presented = credential.encode()
    for key in keys:
        found |= hmac.compare_digest(presented, key.encode())
    return found


def checked_tokens(value: str) -> tuple[str, ...]:
    """``T1,T2,...`` split into tokens, each checked; 401 naming the bad one's position, never its text."""
    tokens = tuple(token.strip() for token in value.split(",") if token.strip())
    for index, token in enumerate(tokens):
        problem = token_problem(token)
        if problem:
            raise AuthenticationError(f"The bearer token #{index + 1} is not a valid token: it {problem}")
    return tokens


def resolve_caller(
    credential: str | None,
    *,
    api_keys: Sequence[str],
    allow_anonymous: bool,
    has_server_accounts: bool,
    caller_tokens: bool = False,
) -> Caller:
    """Decide who the caller is (their ``Principal``) and which accounts may serve them.

    A service API key (or, only when ``allow_anonymous`` is set, no credential at all) unlocks the
    server's own accounts. Any other bearer value is the caller's own DeepSeek tokens, ``T1,T2,...``,
    as the original server did, but only while no service keys are configured or ``caller_tokens``
    is on: with keys configured, a wrong key must not leave the machine as an account token.
    """
    if credential and api_keys and is_service_key(credential, api_keys):
        return _server_caller(has_server_accounts, Principal.service_key(credential))
    if credential:
        if api_keys and not caller_tokens:
            raise AuthenticationError(
                "The bearer token is not a service API key of this server (callers' own DeepSeek tokens "
                "are off here: the operator enables them with auth.caller_tokens)"
            )
        tokens = checked_tokens(credential)
        if tokens:
            return Caller(Principal.caller_tokens(tokens), tokens=tokens)
    if allow_anonymous:
        return _server_caller(has_server_accounts, ANONYMOUS)
    raise AuthenticationError(
        "Missing credentials: send 'Authorization: Bearer <service API key>' for this server's accounts, "
        "or 'Authorization: Bearer <DeepSeek userToken>[,<token>...]' to use your own"
    )


def _server_caller(has_server_accounts: bool, principal: Principal) -> Caller:
    if not has_server_accounts:
        raise AuthenticationError(
            "This server has no DeepSeek accounts configured: send your own DeepSeek userToken as the "
            "bearer token"
        )
    return Caller(principal)
