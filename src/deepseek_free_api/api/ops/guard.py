"""Who may read the operator's endpoints (``/metrics``, ``/readyz``).

From this machine (the socket's peer is a loopback address) no key is needed; from elsewhere an
admin key (``auth.admin_keys``, compared in constant time) is, unless ``server.public_metrics``
opens them to everyone. The peer address is the socket's: a proxy's ``X-Forwarded-For`` is not
believed here. A request that carries such a header came through a proxy, so even from a
loopback peer it is treated as remote: a reverse proxy on the same machine would otherwise make
every client of the internet local.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.requests import Request

from deepseek_free_api.api.auth import is_service_key, presented_credential
from deepseek_free_api.errors import AuthenticationError, PermissionDeniedError

_PROXY_HEADERS = (b"x-forwarded-for", b"forwarded", b"x-real-ip")


class OpsGuard:
    """Allows or refuses a request for an operator's endpoint (401 or 403 with the way in)."""

    def __init__(self, *, admin_keys: Sequence[str], service_keys: Sequence[str], public: bool) -> None:
        self._admin_keys = tuple(admin_keys)
        self._service_keys = tuple(service_keys)
        self.public = public

    def describe(self) -> str:
        """Who may read them, for the log at start."""
        if self.public:
            return "open to everyone (server.public_metrics)"
        if self._admin_keys:
            return f"open from this machine; from others with one of {len(self._admin_keys)} admin key(s)"
        return "open from this machine only (set auth.admin_keys to read them from elsewhere)"

    def check(self, request: Request) -> None:
        """Return if the request may read; raise AuthenticationError (401) or PermissionDeniedError (403)."""
        if self.public or is_local(request):
            return
        if not self._admin_keys:
            raise PermissionDeniedError(
                "This endpoint answers only on this machine: the operator sets auth.admin_keys to read it "
                "from elsewhere with an admin key, or server.public_metrics = true to open it"
            )
        credential = presented_credential(request)
        if credential is not None and is_service_key(credential, self._admin_keys):
            return
        if credential is not None and is_service_key(credential, self._service_keys):
            raise PermissionDeniedError("A service key does not open this endpoint: send an admin key")
        raise AuthenticationError("Send an admin key (auth.admin_keys) as 'Authorization: Bearer <key>'")


def is_local(request: Request) -> bool:
    """Whether the socket's peer is a loopback address and no proxy header says it only relayed."""
    client = request.client
    if client is None:
        return False
    try:
        address = ipaddress.ip_address(client.host)
    except ValueError:
        return False  # a Unix socket path or a test client's name: not known to be local
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not address.is_loopback:
        return False
    return not any(name in _PROXY_HEADERS for name, _ in request.scope["headers"])
