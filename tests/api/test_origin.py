"""Browser pages of other sites and DNS-rebinding names cannot drive a server open to anonymous use.

Raw httpx requests over a real socket set ``Origin`` and ``Host`` as a browser would; the
simulator's request log shows whether anything reached DeepSeek.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import API_KEY, Stack, simulator_config, start_stack

FOREIGN = "https://evil.example"
FRIEND = "https://chat.example.org"
CHAT = {"model": "deepseek-chat", "messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture(scope="module")
def anonymous() -> Iterator[Stack]:
    """Server accounts open to callers without a key, nothing configured about origins or hosts."""
    yield from start_stack(simulator_config(), api_keys=[], allow_anonymous=True, min_interval_s=0.0)


@pytest.fixture(scope="module")
def anonymous_with_friends() -> Iterator[Stack]:
    """Anonymous use, one web app allowed by name, one extra host name."""
    yield from start_stack(
        simulator_config(),
        api_keys=[],
        allow_anonymous=True,
        cors_origins=[FRIEND],
        allowed_hosts=["api.example.org"],
        min_interval_s=0.0,
    )


@pytest.fixture(scope="module")
def keyed() -> Iterator[Stack]:
    """The usual deployment: every request needs a service key, nothing configured about origins."""
    yield from start_stack(simulator_config(), min_interval_s=0.0)


def post(stack: Stack, headers: dict[str, str], key: str | None = None) -> httpx.Response:
    if key:
        headers = {**headers, "Authorization": f"Bearer {key}"}
    return httpx.post(stack.base_url + "/chat/completions", json=CHAT, headers=headers, timeout=30)


def preflight(stack: Stack, origin: str, **extra: str) -> httpx.Response:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
        **extra,
    }
    return httpx.options(stack.base_url + "/chat/completions", headers=headers, timeout=10)


def completions(stack: Stack) -> int:
    return len(stack.upstream_requests("/chat/completion"))


def assert_refused(response: httpx.Response, mentions: str) -> None:
    assert response.status_code == 403, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["type"] == "permission_error"
    assert mentions in error["message"]
    assert "access-control-allow-origin" not in response.headers


# ---- anonymous use, nothing configured ---------------------------------------------------------


def test_a_page_of_another_site_cannot_post_a_chat(anonymous: Stack) -> None:
    before = completions(anonymous)
    assert_refused(post(anonymous, {"Origin": FOREIGN}), "server.cors_origins")
    assert completions(anonymous) == before  # nothing reached DeepSeek


def test_a_preflight_from_another_site_is_not_granted(anonymous: Stack) -> None:
    assert_refused(preflight(anonymous, FOREIGN), "server.cors_origins")


def test_a_rebound_host_name_is_refused(anonymous: Stack) -> None:
    before = completions(anonymous)
    # A DNS-rebinding page is same-origin with its own name: Origin and Host agree.
    response = post(anonymous, {"Host": "evil.example:8000", "Origin": "http://evil.example:8000"})
    assert_refused(response, "server.allowed_hosts")
    assert_refused(post(anonymous, {"Host": "evil.example"}), "server.allowed_hosts")
    assert completions(anonymous) == before


def test_loopback_names_and_tools_without_origin_still_work(anonymous: Stack) -> None:
    port = anonymous.server.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "LOCALHOST"):
        assert post(anonymous, {"Host": host}).status_code == 200, host
    assert post(anonymous, {}).status_code == 200  # curl and the SDKs send no Origin


def test_the_servers_own_pages_may_call_it(anonymous: Stack) -> None:
    own = anonymous.server.url  # e.g. /docs served by this server
    response = post(anonymous, {"Origin": own})
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] in (own, "*")


# ---- anonymous use with configured origins and hosts -------------------------------------------


def test_a_configured_origin_gets_its_preflight_and_its_answer(anonymous_with_friends: Stack) -> None:
    granted = preflight(anonymous_with_friends, FRIEND)
    assert granted.status_code == 200
    assert granted.headers["access-control-allow-origin"] == FRIEND
    assert "authorization" in granted.headers["access-control-allow-headers"].lower()
    response = post(anonymous_with_friends, {"Origin": FRIEND})
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == FRIEND
    assert_refused(post(anonymous_with_friends, {"Origin": FOREIGN}), "server.cors_origins")
    assert_refused(preflight(anonymous_with_friends, FOREIGN), "server.cors_origins")


def test_a_configured_host_name_is_served_and_others_are_not(anonymous_with_friends: Stack) -> None:
    assert post(anonymous_with_friends, {"Host": "API.example.org:443"}).status_code == 200
    assert_refused(post(anonymous_with_friends, {"Host": "other.example.org"}), "server.allowed_hosts")


# ---- keys required: any origin and any host name, as before ------------------------------------


def test_with_keys_a_page_of_any_site_may_call_with_a_key(keyed: Stack) -> None:
    granted = preflight(keyed, FOREIGN)
    assert granted.status_code == 200
    assert granted.headers["access-control-allow-origin"] in (FOREIGN, "*")
    response = post(keyed, {"Origin": FOREIGN, "Host": "api.behind-a-proxy.example"}, key=API_KEY)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] in (FOREIGN, "*")
    assert post(keyed, {"Origin": FOREIGN}).status_code == 401  # and without a key, nothing
