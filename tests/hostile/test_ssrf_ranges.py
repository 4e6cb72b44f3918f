"""Every special-purpose address range is refused as a URL's destination; ordinary public ones pass.

The table follows IANA's IPv4 and IPv6 Special-Purpose Address Registries (plus multicast and the
reserved blocks): a range is refused as a whole, at its first and last address and one inside.
Two ranges only translate an IPv4 address and are judged as that address: IPv4-mapped
(``::ffff:a.b.c.d``) and the NAT64 well-known prefix (``64:ff9b::a.b.c.d``, what DNS64 answers
on IPv6-only networks).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import httpx
import pytest

from deepseek_free_api.chat.addresses import is_public_address
from tests.api.conftest import API_KEY
from tests.hostile.serve_stack import Served, served

# (name, network): every address of the network is refused.
SPECIAL = [
    ("this network", "0.0.0.0/8"),
    ("private 10/8", "10.0.0.0/8"),
    ("shared address space (CGNAT)", "100.64.0.0/10"),
    ("loopback", "127.0.0.0/8"),
    ("link-local (cloud metadata)", "169.254.0.0/16"),
    ("private 172.16/12", "172.16.0.0/12"),
    ("IETF protocol assignments (PCP, TURN anycast)", "192.0.0.0/24"),
    ("documentation TEST-NET-1", "192.0.2.0/24"),
    ("AS112-v4", "192.31.196.0/24"),
    ("AMT", "192.52.193.0/24"),
    ("6to4 relay anycast", "192.88.99.0/24"),
    ("private 192.168/16", "192.168.0.0/16"),
    ("AS112 direct delegation", "192.175.48.0/24"),
    ("benchmarking", "198.18.0.0/15"),
    ("documentation TEST-NET-2", "198.51.100.0/24"),
    ("documentation TEST-NET-3", "203.0.113.0/24"),
    ("multicast", "224.0.0.0/4"),
    ("reserved (and limited broadcast)", "240.0.0.0/4"),
    ("unspecified and loopback, IPv4-compatible", "::/96"),
    ("IPv4-translated (SIIT)", "::ffff:0:0:0/96"),
    ("NAT64 local-use", "64:ff9b:1::/48"),
    ("discard-only", "100::/64"),
    ("dummy prefix", "100:0:0:1::/64"),
    ("IETF protocol assignments (Teredo, benchmarking, ORCHID, AMT, AS112)", "2001::/23"),
    ("documentation", "2001:db8::/32"),
    ("6to4", "2002::/16"),
    ("AS112 direct delegation v6", "2620:4f:8000::/48"),
    ("documentation 3fff::/20", "3fff::/20"),
    ("SRv6 SIDs", "5f00::/16"),
    ("unique-local", "fc00::/7"),
    ("link-local", "fe80::/10"),
    ("site-local (deprecated)", "fec0::/10"),
    ("multicast v6", "ff00::/8"),
    ("outside global unicast 2000::/3", "4000::/2"),
    ("outside global unicast 2000::/3", "8000::/1"),
]

# An IPv4 address carried inside IPv6 is judged as that IPv4 address.
EMBEDDED_SPECIAL = [
    f"{prefix}{v4}"
    for prefix in ("::ffff:", "64:ff9b::")
    for v4 in ("127.0.0.1", "10.0.0.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "192.0.0.9", "224.0.0.1")
]

PUBLIC = [
    "8.8.8.8", "1.1.1.1", "93.184.215.14", "223.255.255.255",
    # just outside the special ranges
    "100.63.255.255", "100.128.0.0", "172.15.255.255", "172.32.0.0", "192.0.1.0", "198.17.255.255",
    "198.20.0.0", "192.169.0.0", "9.255.255.255", "11.0.0.0",
    "2606:4700:4700::1111", "2a00:1450:4001:81a::200e", "2001:200::1", "2620:4f:7fff::1",
    "::ffff:8.8.8.8", "64:ff9b::8.8.8.8",
]  # fmt: skip


def samples(network: str) -> list[str]:
    """The first and last address of ``network`` and one in between."""
    net = ipaddress.ip_network(network)
    return [str(net[0]), str(net[net.num_addresses // 2 + 1]), str(net[-1])]


REFUSED = [(name, address) for name, network in SPECIAL for address in samples(network)] + [
    ("embedded special IPv4", address) for address in EMBEDDED_SPECIAL
]


@pytest.mark.parametrize(("name", "address"), REFUSED, ids=[f"{n}:{a}" for n, a in REFUSED])
def test_every_special_purpose_address_is_refused(name: str, address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address)), name


@pytest.mark.parametrize("address", PUBLIC)
def test_ordinary_public_addresses_pass(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


@pytest.fixture(scope="module")
def stack() -> Iterator[Served]:
    # A short fetch time: on a server that lets a range through, the test fails fast, not in 10 s.
    with served(files__remote_urls="true", files__fetch_timeout_s="2") as running:
        yield running


def _literal(address: str) -> str:
    return f"[{address}]" if ":" in address else address


THROUGH_THE_SERVER = [(name, samples(network)[1]) for name, network in SPECIAL] + [
    ("embedded", address) for address in EMBEDDED_SPECIAL
]


TEXT = {"type": "text", "text": "what is this?"}  # an image alone is refused before its URL is read


@pytest.mark.parametrize(("name", "address"), THROUGH_THE_SERVER)
def test_a_url_to_a_special_purpose_address_is_a_400_url_refused(
    stack: Served, name: str, address: str
) -> None:
    part = {"type": "image_url", "image_url": {"url": f"http://{_literal(address)}:8080/a.png"}}
    response = httpx.post(
        stack.url + "/v1/chat/completions",
        json={"model": "deepseek-v4-vision", "messages": [{"role": "user", "content": [TEXT, part]}]},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    )
    assert response.status_code == 400, (name, response.text)
    error = response.json()["error"]
    assert error["code"] == "url_refused", (name, error)
    assert address not in error["message"]  # the inside of the network is not echoed back
