"""Who may read ``/metrics`` and ``/readyz``: this machine without a key, others with an admin key.

"Another machine" is a real socket peer that is not loopback: the server listens on this host's
own non-loopback address and the client connects to it, so the peer is that address.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from deepseek_free_api.app import create_app
from deepseek_free_api.background import BackgroundServer
from deepseek_free_api.config import load_settings
from tests.api.conftest import API_KEY

ADMIN_KEY = "adm-9c1f5e77d2b04a31"
PATHS = ("/metrics", "/readyz")


def outward_address() -> str:
    """This host's address towards other machines (no packet is sent), or skip without one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only the route is looked up
            address: str = probe.getsockname()[0]
        except OSError:
            address = "127.0.0.1"
    if address.startswith("127."):
        pytest.skip("this machine has no non-loopback IPv4 address to be 'another machine' from")
    return address


def serve(host: str, **overrides: Any) -> BackgroundServer:
    settings = load_settings(overrides={"api_keys": [API_KEY], "tokens": ["tok-alpha"], **overrides}, env={})
    return BackgroundServer(create_app(settings), host=host)


@pytest.fixture(scope="module")
def remote() -> Iterator[str]:
    with serve(outward_address(), admin_keys=[ADMIN_KEY]) as server:
        yield server.url


@pytest.mark.parametrize("path", PATHS)
def test_from_another_machine_an_admin_key_is_needed(remote: str, path: str) -> None:
    assert httpx.get(remote + path, timeout=10).status_code == 401
    service = httpx.get(remote + path, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10)
    assert service.status_code == 403
    assert "admin key" in service.json()["error"]["message"]
    assert (
        httpx.get(remote + path, headers={"Authorization": "Bearer adm-wrong"}, timeout=10).status_code == 401
    )
    admin = httpx.get(remote + path, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10)
    assert admin.status_code in (200, 503)
    assert httpx.get(remote + path, headers={"x-api-key": ADMIN_KEY}, timeout=10).status_code in (200, 503)


def test_from_this_machine_no_key_is_needed_unless_a_proxy_relayed_it() -> None:
    with serve("127.0.0.1", admin_keys=[ADMIN_KEY]) as server:
        for path in PATHS:
            assert httpx.get(server.url + path, timeout=10).status_code in (200, 503)
            # A reverse proxy on this machine makes every client loopback: its header gives it away.
            relayed = httpx.get(server.url + path, headers={"X-Forwarded-For": "203.0.113.9"}, timeout=10)
            assert relayed.status_code == 401
            admin = {"X-Forwarded-For": "203.0.113.9", "Authorization": f"Bearer {ADMIN_KEY}"}
            assert httpx.get(server.url + path, headers=admin, timeout=10).status_code in (200, 503)


def test_without_admin_keys_other_machines_are_refused_and_told_how_to_open() -> None:
    with serve(outward_address()) as server:
        response = httpx.get(
            server.url + "/metrics", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10
        )
        assert response.status_code == 403
        assert "auth.admin_keys" in response.json()["error"]["message"]


def test_public_metrics_opens_them_to_everyone() -> None:
    with serve(outward_address(), public_metrics=True) as server:
        assert httpx.get(server.url + "/metrics", timeout=10).status_code == 200
        assert httpx.get(server.url + "/readyz", timeout=10).status_code == 200


def test_admin_keys_come_from_the_environment_and_stay_out_of_the_settings_repr() -> None:
    settings = load_settings(env={"DEEPSEEK_FREE_API_AUTH_ADMIN_KEYS": f"{ADMIN_KEY}, adm-second-key-000"})
    assert settings.auth.admin_keys == (ADMIN_KEY, "adm-second-key-000")
    assert ADMIN_KEY not in repr(settings)
