"""Service keys, callers' own tokens and /token/check, as a caller (or an attacker) meets them."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import Iterator

import httpx
import pytest

from deepseek_free_api.api.auth import (
    KEYS_SEEN_TTL_S,
    MAX_CALLER_TOKENS,
    CallerResolver,
    checked_tokens,
    resolve_caller,
)
from deepseek_free_api.api.misc import RateLimiter
from deepseek_free_api.chat.failover import Caller
from deepseek_free_api.chat.principal import Principal
from deepseek_free_api.errors import AuthenticationError
from deepseek_free_api.stores import KeyLimits
from deepseek_free_api.stores.memory import MemoryKeys
from tests.api.conftest import API_KEY, TOKENS, Stack, simulator_config, start_stack

LONG_KEY = "sk-" + "SECRETPART" * 4 + "tail"


@pytest.fixture(scope="module")
def keyed(caplog_module: list[logging.LogRecord]) -> Iterator[Stack]:
    """Server accounts behind two service keys (the usual deployment)."""
    yield from start_stack(simulator_config(), api_keys=[API_KEY, LONG_KEY], min_interval_s=0.0)


@pytest.fixture(scope="module")
def open_server() -> Iterator[Stack]:
    """No keys, no server accounts: every caller brings their own DeepSeek token (as the original)."""
    yield from start_stack(simulator_config(), api_keys=[], tokens=[], min_interval_s=0.0)


@pytest.fixture(scope="module")
def caplog_module() -> Iterator[list[logging.LogRecord]]:
    """Records of the package's loggers while the module's servers start."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("deepseek_free_api")
    handler, level = Keep(level=logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(level)


def completions(stack: Stack) -> int:
    return len(stack.upstream_requests())


def test_a_mistyped_key_is_refused_locally_and_never_sent_upstream(keyed: Stack) -> None:
    before = completions(keyed)
    response = keyed.post_chat("hi", key=API_KEY + "x")
    assert response.status_code == 401
    error = response.json()["error"]
    assert "not a service API key" in error["message"] and "auth.caller_tokens" in error["message"]
    assert API_KEY not in error["message"]
    assert completions(keyed) == before  # nothing reached "DeepSeek", least of all the secret


def test_a_service_key_still_works_and_so_does_x_api_key(keyed: Stack) -> None:
    assert keyed.post_chat("hi").status_code == 200
    body = {"model": "deepseek-chat", "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(keyed.base_url + "/chat/completions", json=body, headers={"x-api-key": LONG_KEY})
    assert response.status_code == 200


def test_without_keys_and_server_accounts_callers_tokens_work_as_before(open_server: Stack) -> None:
    response = open_server.post_chat("own token", key=TOKENS[1])
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"].startswith("Echo: own token")


@pytest.mark.parametrize(
    "bearer",
    [
        "tök€n".encode("latin-1", "replace") + b"\xe9",  # not ASCII: could never be sent upstream
        b"t" * 5000,
    ],
)
def test_a_malformed_bearer_is_a_clear_401_not_a_500(open_server: Stack, bearer: bytes) -> None:
    before = completions(open_server)
    body = {"model": "deepseek-chat", "messages": [{"role": "user", "content": "hi"}]}
    headers = {b"Authorization": b"Bearer " + bearer}
    response = httpx.post(open_server.base_url + "/chat/completions", json=body, headers=headers)
    assert response.status_code == 401
    assert "is not a valid token" in response.json()["error"]["message"]
    assert completions(open_server) == before


def test_a_bearer_with_a_control_character_is_refused_not_a_500(open_server: Stack) -> None:
    before = completions(open_server)
    body = {"model": "deepseek-chat", "messages": [{"role": "user", "content": "hi"}]}
    headers = {b"Authorization": b"Bearer tok-alpha,bad\x7ftoken"}
    response = httpx.post(open_server.base_url + "/chat/completions", json=body, headers=headers)
    if importlib.util.find_spec("httptools") is not None:
        # uvicorn runs httptools, whose parser refuses a control character in a header value
        # (RFC 9110 section 5.5) before the app sees the request (net/httptools_connection.py).
        assert (response.status_code, response.text) == (400, "Invalid HTTP request received.")
    else:  # h11 lets it through: the app refuses the token
        assert response.status_code == 401
        assert "is not a valid token" in response.json()["error"]["message"]
    assert completions(open_server) == before


def test_a_bearer_with_more_tokens_than_allowed_registers_none(open_server: Stack) -> None:
    # Each token becomes a pool account: one request must not register thousands of them.
    tokens = [f"tok-many-{index:04d}" for index in range(MAX_CALLER_TOKENS + 1)]
    before = completions(open_server)
    response = open_server.post_chat("many tokens", key=",".join(tokens))
    assert response.status_code == 401
    assert f"at most {MAX_CALLER_TOKENS}" in response.json()["error"]["message"]
    assert completions(open_server) == before
    assert len(checked_tokens(",".join(tokens[:MAX_CALLER_TOKENS]))) == MAX_CALLER_TOKENS


def test_the_key_log_line_shows_at_most_4_characters(
    keyed: Stack, caplog_module: list[logging.LogRecord]
) -> None:
    lines = [record.getMessage() for record in caplog_module]
    service_line = next(line for line in lines if "service keys:" in line)
    assert "…tail" in service_line and "…-key" in service_line
    for line in lines:  # never more than the last 4 characters of a key
        assert LONG_KEY[:4] not in line and LONG_KEY[-5:] not in line and "SECRETPART" not in line
        assert API_KEY[:4] not in line and API_KEY[-5:] not in line


def test_caller_tokens_on_a_keyed_server_need_the_operators_opt_in() -> None:
    def resolve(credential: str, caller_tokens: bool = False) -> Caller:
        return resolve_caller(
            credential,
            api_keys=[API_KEY],
            allow_anonymous=False,
            has_server_accounts=True,
            caller_tokens=caller_tokens,
        )

    with pytest.raises(AuthenticationError):
        resolve("my-deepseek-token")
    mine = Caller(Principal.caller_tokens(["my-deepseek-token"]), tokens=("my-deepseek-token",))
    assert resolve("my-deepseek-token", caller_tokens=True) == mine
    assert resolve(API_KEY) == Caller(Principal.service_key(API_KEY))
    with pytest.raises(AuthenticationError, match="#2 is not a valid token"):
        resolve("good,b\u00e4d", caller_tokens=True)


def test_keys_in_the_store_are_callers_with_a_name_and_refuse_other_bearers() -> None:
    async def main() -> None:
        keys = MemoryKeys()
        resolve = CallerResolver(keys, api_keys=[], allow_anonymous=False, has_server_accounts=True)
        assert (await resolve("my-deepseek-token")).tokens == (
            "my-deepseek-token",
        )  # no keys: as the original
        _, key = await keys.create("ci", KeyLimits(rpm=2))
        caller = await resolve(key)  # at once
        assert caller.principal == Principal.service_key(key) and caller.principal.label == "ci"
        assert caller.principal.limits == KeyLimits(rpm=2)
        await asyncio.sleep(KEYS_SEEN_TTL_S)
        with pytest.raises(AuthenticationError, match="not a service API key"):
            await resolve("my-deepseek-token")  # a mistyped key must not reach DeepSeek as a token
        await keys.revoke("ci")
        with pytest.raises(AuthenticationError, match="'ci' was revoked"):
            await resolve(key)

    asyncio.run(main())


# ---- /token/check -----------------------------------------------------------------------------


def token_check(stack: Stack, token: str, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(stack.server.url + "/token/check", json={"token": token}, headers=headers)


def test_token_check_with_line_breaks_is_refused_and_adds_no_upstream_header(open_server: Stack) -> None:
    before = completions(open_server)
    response = token_check(open_server, "tok-alpha\r\nX-Injected: yes")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "token"
    assert completions(open_server) == before
    assert not any("x-injected" in {h.lower() for h in r["headers"]} for r in open_server.upstream_requests())


def test_token_check_with_a_non_latin1_token_is_400_not_500(open_server: Stack) -> None:
    response = token_check(open_server, "tok-\u4e2d\u6587")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")


def test_token_check_still_answers_for_real_tokens_on_an_open_server(open_server: Stack) -> None:
    assert token_check(open_server, TOKENS[0]).json() == {"live": True}
    assert token_check(open_server, "no-such-token").json() == {"live": False}


def test_token_check_needs_a_service_key_when_keys_are_configured(keyed: Stack) -> None:
    refused = token_check(keyed, TOKENS[0])
    assert refused.status_code == 401
    assert token_check(keyed, TOKENS[0], key="wrong-key").status_code == 401
    assert token_check(keyed, TOKENS[0], key=API_KEY).json() == {"live": True}


def test_token_check_is_rate_limited_per_client_with_retry_after() -> None:
    # A fresh server, so that other tests' checks do not count.
    for stack in start_stack(simulator_config(), api_keys=[], tokens=[]):
        statuses = [token_check(stack, "no-such-token").status_code for _ in range(40)]
        assert statuses[0] == 200
        assert 429 in statuses
        limited = token_check(stack, "no-such-token")
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["error"]["type"] == "rate_limit_error"


def test_rate_limiter_refills_and_forgets_idle_clients() -> None:
    now = [0.0]
    limiter = RateLimiter(2, 1.0, max_clients=2, clock=lambda: now[0])
    assert limiter.take("a") == 0 and limiter.take("a") == 0
    assert limiter.take("a") == pytest.approx(1.0)
    now[0] = 1.0
    assert limiter.take("a") == 0
    limiter.take("b")
    now[0] = 10.0
    limiter.take("c")  # the table is full: clients idle long enough to be full again are dropped
    assert limiter.take("a") == 0 and limiter.take("a") == 0
