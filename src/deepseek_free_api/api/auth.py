"""Who is calling: a service API key (server accounts), the caller's own DeepSeek tokens, or anonymous.

Service keys come from the settings (``auth.api_keys``: no limits) or from the store
(``keys create``: looked up by digest on every request, so a new key works and a revoked one is
refused at once, in every process sharing the store).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Sequence

from starlette.requests import Request

from deepseek_free_api.chat.failover import Caller
from deepseek_free_api.chat.principal import ANONYMOUS, Principal
from deepseek_free_api.config import token_problem
from deepseek_free_api.errors import AuthenticationError
from deepseek_free_api.stores.protocols import KEY_PREFIX, KeyStore

# How long "the store holds service keys" is believed; it only decides whether a bearer that is no
# key may be taken as the caller's own DeepSeek tokens (a new key itself works at once).
KEYS_SEEN_TTL_S = 1.0
# Tokens one bearer may carry (``T1,T2,...``): each becomes an account of the pool, so one request
# must not be able to register more than a handful (4,000 in one bearer went past the pool's cap
# of 1,000 caller accounts, which keeps a request's own accounts).
MAX_CALLER_TOKENS = 32


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
    if len(tokens) > MAX_CALLER_TOKENS:
        raise AuthenticationError(
            f"The bearer holds {len(tokens)} DeepSeek tokens; at most {MAX_CALLER_TOKENS} are taken at once"
        )
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
    keys_in_store: bool = False,
) -> Caller:
    """Decide who the caller is (their ``Principal``) and which accounts may serve them.

    A service API key (or, only when ``allow_anonymous`` is set, no credential at all) unlocks the
    server's own accounts. Any other bearer value is the caller's own DeepSeek tokens, ``T1,T2,...``,
    as the original server did, but only while no service keys are configured or ``caller_tokens``
    is on: with keys configured (``keys_in_store``: kept in the store), a wrong key must not leave the
    machine as an account token.
    """
    if credential and api_keys and is_service_key(credential, api_keys):
        return _server_caller(has_server_accounts, Principal.service_key(credential))
    if credential:
        if (api_keys or keys_in_store) and not caller_tokens:
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


class CallerResolver:
    """``resolve_caller`` with the service keys kept in the store as well (``Core.caller``)."""

    def __init__(
        self,
        keys: KeyStore,
        *,
        api_keys: Sequence[str],
        allow_anonymous: bool,
        has_server_accounts: bool,
        caller_tokens: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._api_keys = tuple(api_keys)
        self._allow_anonymous = allow_anonymous
        self._has_server_accounts = has_server_accounts
        self._caller_tokens = caller_tokens
        self._clock = clock
        self._keys_seen: tuple[float, bool] = (-KEYS_SEEN_TTL_S, False)

    async def __call__(self, credential: str | None) -> Caller:
        """The caller presenting ``credential``; AuthenticationError (401) if it may not call."""
        configured = (
            bool(credential) and bool(self._api_keys) and is_service_key(credential or "", self._api_keys)
        )
        if credential and not configured and credential.startswith(KEY_PREFIX):
            record = await self._keys.lookup(credential)
            if record is not None:
                state = record.state(self._clock())
                if state != "active":
                    raise AuthenticationError(
                        f"The service key '{record.name}' was {state}: ask the operator for a new one"
                    )
                principal = Principal.service_key(credential, name=record.name, limits=record.limits)
                return _server_caller(self._has_server_accounts, principal)
        keys_in_store = False
        if credential and not configured and not self._api_keys and not self._caller_tokens:
            keys_in_store = await self._store_has_keys()
        return resolve_caller(
            credential,
            api_keys=self._api_keys,
            allow_anonymous=self._allow_anonymous,
            has_server_accounts=self._has_server_accounts,
            caller_tokens=self._caller_tokens,
            keys_in_store=keys_in_store,
        )

    async def _store_has_keys(self) -> bool:
        """Whether the store holds any service key (revoked ones count: keys are in use here)."""
        checked_at, seen = self._keys_seen
        now = time.monotonic()
        if now - checked_at >= KEYS_SEEN_TTL_S:
            seen = bool(await self._keys.all())
            self._keys_seen = (now, seen)
        return seen
