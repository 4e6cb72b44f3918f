"""Which addresses a fetched URL may lead to: ordinary public unicast, nothing special-purpose.

The refused ranges are IANA's IPv4 and IPv6 Special-Purpose Address Registries (checked
2025-06), every multicast and reserved block, and for IPv6 everything outside global unicast
(``2000::/3``). They are listed here rather than taken from ``ipaddress``'s ``is_global``,
whose answers change between Python versions (3.11 calls ``fec0::1``, ``::127.0.0.1`` and
``64:ff9b:1::1`` global). Two IPv6 ranges only carry an IPv4 address and are judged as that
address: IPv4-mapped ``::ffff:a.b.c.d`` (what a dual-stack socket connects to) and the NAT64
well-known prefix ``64:ff9b::a.b.c.d`` (what DNS64 answers on IPv6-only networks). Everything
else that embeds one (IPv4-compatible ``::a.b.c.d``, SIIT, 6to4, Teredo, local-use NAT64) is
refused whole: deprecated or local, and no public image lives there.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SPECIAL_V4 = tuple(
    ipaddress.IPv4Network(network)
    for network in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local (cloud metadata services)
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments (incl. PCP and TURN anycast)
        "192.0.2.0/24",  # documentation TEST-NET-1
        "192.31.196.0/24",  # AS112-v4
        "192.52.193.0/24",  # AMT
        "192.88.99.0/24",  # deprecated 6to4 relay anycast
        "192.168.0.0/16",  # private
        "192.175.48.0/24",  # AS112 direct delegation
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation TEST-NET-2
        "203.0.113.0/24",  # documentation TEST-NET-3
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the limited broadcast 255.255.255.255
    )
)

_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
# Inside 2000::/3; everything outside it (::/96, ::ffff:0:0:0/96 SIIT, 64:ff9b:1::/48, 100::/64,
# 5f00::/16, fc00::/7, fe80::/10, fec0::/10, ff00::/8, …) is refused by the rule above.
_SPECIAL_V6 = tuple(
    ipaddress.IPv6Network(network)
    for network in (
        "2001::/23",  # IETF protocol assignments: Teredo, benchmarking, ORCHID, AMT, AS112, …
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4
        "2620:4f:8000::/48",  # AS112 direct delegation
        "3fff::/20",  # documentation
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped or NAT64 well-known-prefix address stands for, else None."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public_address(address: IPAddress) -> bool:
    """Whether ``address`` is ordinary public unicast, in no special-purpose range."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return False  # a zone only makes sense for link-local addresses
        carried = embedded_ipv4(address)
        if carried is not None:
            return is_public_address(carried)
        if address not in _GLOBAL_UNICAST_V6 or any(address in net for net in _SPECIAL_V6):
            return False
    elif any(address in net for net in _SPECIAL_V4):
        return False
    # A second opinion: whatever a newer Python knows to be special stays refused too.
    return address.is_global and not address.is_multicast
