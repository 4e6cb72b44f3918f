"""Who is calling, for limits: forwarded headers only from configured proxies, keys by themselves.

``/token/check`` makes one upstream call per request, so it has a budget (10 at once, then one
every 2 s): per service key once a key authenticated the caller, per client address before.
The client address is the connection's peer, unless that peer is listed in
``server.trusted_proxies``: then ``X-Forwarded-For`` (or ``Forwarded``) is read from the right,
past the trusted proxies, and the first address no trusted proxy vouches for is the client.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import httpx
import pytest

from deepseek_free_api.api.client_address import TrustedProxies, forwarded_client
from deepseek_free_api.config import ConfigError, load_settings
from tests.api.conftest import API_KEY
from tests.hostile.serve_stack import Served, served

BURST = 10
PER_SECOND = 0.5


def token_check(stack: Served, headers: dict[str, str]) -> int:
    response = httpx.post(
        stack.url + "/token/check", json={"token": "no-such-token"}, headers=headers, timeout=30
    )
    if response.status_code == 429:
        assert int(response.headers["retry-after"]) >= 1
    return response.status_code


def run(stack: Served, count: int, headers_of: Callable[[int], dict[str, str]]) -> tuple[list[int], int]:
    """The statuses of ``count`` checks, and how many a bucket could have refilled meanwhile."""
    started = time.monotonic()
    statuses = [token_check(stack, headers_of(index)) for index in range(count)]
    return statuses, math.ceil((time.monotonic() - started) * PER_SECOND) + 1


def open_server(**settings: str) -> AbstractContextManager[Served]:
    """No service keys: every caller checks with their own token, counted per address."""
    return served(auth__api_keys="", **settings)


def test_forwarded_headers_from_an_untrusted_peer_change_nothing() -> None:
    def spoofed(index: int) -> dict[str, str]:
        if index % 2:
            return {"X-Forwarded-For": f"198.51.100.{index}"}
        return {"Forwarded": f"for=198.51.100.{index};proto=https", "X-Real-IP": f"203.0.113.{index}"}

    with open_server() as stack:
        statuses, refill = run(stack, 3 * BURST, spoofed)
    allowed = [status for status in statuses if status != 429]
    # One budget for the loopback peer, whatever the headers claim.
    assert BURST <= len(allowed) <= BURST + refill and set(allowed) == {200}, statuses


def test_a_configured_trusted_proxy_is_believed_from_the_right() -> None:
    with open_server(server__trusted_proxies="127.0.0.1,10.0.0.0/8") as stack:
        # Distinct clients behind the proxy, in each header form: each has its own budget.
        forms: list[Callable[[int], dict[str, str]]] = [
            lambda i: {"X-Forwarded-For": f"198.51.100.{i}"},
            lambda i: {"Forwarded": f'for="[2001:db8:{i:x}::17]:4711";proto=https'},
            lambda i: {"Forwarded": f"for=192.0.2.{i}, for=10.0.0.1"},  # a second trusted hop
            lambda i: {"X-Forwarded-For": f"203.0.113.{i}, 10.9.8.7"},
        ]
        for form in forms:
            statuses, _ = run(stack, BURST + 5, form)
            assert 429 not in statuses, (form(0), statuses)
        # One client that puts made-up addresses in front: the proxy appended its real address.
        statuses, refill = run(stack, 2 * BURST, lambda i: {"X-Forwarded-For": f"1.2.3.{i}, 198.18.0.7"})
        allowed = [status for status in statuses if status != 429]
        assert BURST <= len(allowed) <= BURST + refill, statuses


def test_a_401_flood_from_an_address_does_not_spend_a_keys_budget() -> None:
    with served() as stack:
        flood, _ = run(stack, 3 * BURST, lambda i: {"Authorization": f"Bearer wrong-key-{i}"})
        assert set(flood[:BURST]) == {401} and 429 in flood, flood  # guessing keys is limited too
        # The key holder at the same address still has their whole budget.
        keyed, refill = run(stack, BURST + 5, lambda i: {"Authorization": f"Bearer {API_KEY}"})
    allowed = [status for status in keyed if status != 429]
    assert BURST <= len(allowed) <= BURST + refill and set(allowed) == {200}, keyed


def test_a_keys_budget_follows_the_key_across_addresses() -> None:
    with served(server__trusted_proxies="127.0.0.1") as stack:
        statuses, refill = run(
            stack,
            2 * BURST,
            lambda i: {"Authorization": f"Bearer {API_KEY}", "X-Forwarded-For": f"198.51.100.{i}"},
        )
    allowed = [status for status in statuses if status != 429]
    assert BURST <= len(allowed) <= BURST + refill, statuses


PROXIES = TrustedProxies(["127.0.0.1", "10.0.0.0/8"])
PEER = ipaddress.ip_address("127.0.0.1")

# (headers from the trusted peer, the client they name, the scheme or None)
CHAINS: list[tuple[dict[bytes, list[str]], str, str | None]] = [
    ({b"x-forwarded-for": ["198.51.100.1"]}, "198.51.100.1", None),
    ({b"x-forwarded-for": ["6.6.6.6, 198.51.100.1"]}, "198.51.100.1", None),  # the client's own entry
    ({b"x-forwarded-for": ["6.6.6.6", "198.51.100.1, 10.0.0.2"]}, "198.51.100.1", None),  # two lines
    ({b"x-forwarded-for": ["10.0.0.3, 10.0.0.2"]}, "10.0.0.3", None),  # only proxies: the first
    ({b"x-forwarded-for": ["unknown, 10.0.0.2"]}, "10.0.0.2", None),  # hidden: the last proxy
    ({b"x-forwarded-for": ["not an address"]}, "127.0.0.1", None),
    ({b"x-forwarded-for": ["198.51.100.1:5555"]}, "198.51.100.1", None),
    ({b"x-forwarded-for": ["[2001:db8::1]:443"]}, "2001:db8::1", None),
    ({b"x-forwarded-for": ["::ffff:198.51.100.1"]}, "198.51.100.1", None),
    ({b"x-forwarded-for": ["198.51.100.1"], b"x-forwarded-proto": ["https"]}, "198.51.100.1", "https"),
    ({b"x-forwarded-proto": ["https"]}, "127.0.0.1", "https"),
    ({b"forwarded": ["for=198.51.100.1;proto=https"]}, "198.51.100.1", "https"),
    ({b"forwarded": ['For="[2001:db8::1]:4711"']}, "2001:db8::1", None),
    ({b"forwarded": ["for=6.6.6.6;proto=http, for=198.51.100.1;proto=https"]}, "198.51.100.1", "https"),
    ({b"forwarded": ["for=_hidden, for=10.0.0.2"]}, "10.0.0.2", None),
    ({b"x-forwarded-for": ["198.51.100.1"], b"forwarded": ["for=198.51.100.1"]}, "198.51.100.1", None),
    # The two headers name different clients: one of them is the client's own; neither is believed.
    ({b"x-forwarded-for": ["198.51.100.1"], b"forwarded": ["for=203.0.113.9"]}, "127.0.0.1", None),
    ({b"x-forwarded-for": [", ".join(["10.0.0.1"] * 10_000)]}, "10.0.0.1", None),  # bounded walk
]  # fmt: skip


@pytest.mark.parametrize(("headers", "client", "scheme"), CHAINS)
def test_the_client_is_the_right_most_address_no_trusted_proxy_vouches_for(
    headers: dict[bytes, list[str]], client: str, scheme: str | None
) -> None:
    assert forwarded_client(PROXIES, PEER, headers) == (ipaddress.ip_address(client), scheme)


def test_a_trusted_proxy_that_is_not_an_address_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match=r"server\.trusted_proxies\[1\]"):
        load_settings(env={"DEEPSEEK_FREE_API_SERVER_TRUSTED_PROXIES": "127.0.0.1,proxy.local"})
    settings = load_settings(env={"DEEPSEEK_FREE_API_SERVER_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8 ,::1"})
    assert settings.server.trusted_proxies == ("127.0.0.1", "10.0.0.0/8", "::1")
