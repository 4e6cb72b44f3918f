"""Who is the operator: an admin key as a bearer (scripts) or a signed session cookie (people).

The cookie never holds the key: it is ``<expiry>.<nonce>.<mac>``, the MAC an HMAC-SHA256 of the
expiry and nonce keyed with the admin key that logged in. Any process holding the same admin
keys accepts it (several workers, a restart), and removing the key from ``auth.admin_keys`` ends
every session made with it. The cookie is ``SameSite=Strict`` and ``HttpOnly``, so no other
site's page can send it and no script can read it; the page's scripts prove they are the page's
with a second MAC of the nonce (``X-Admin-CSRF``) that only the rendered page carries.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.requests import Request

from deepseek_free_api.api.auth import is_service_key, presented_credential

COOKIE = "dsfa_admin"
CSRF_HEADER = "x-admin-csrf"
SESSION_S = 8 * 3600
_MAX_LOGGED_OUT = 4096  # remembered logouts (bounded; older sessions still expire on their own)


@dataclass(frozen=True, slots=True)
class Session:
    """A checked session: its nonce and the CSRF token its page carries."""

    nonce: str
    csrf: str


class Sessions:
    """Makes and checks session cookies for a fixed set of admin keys."""

    def __init__(self, admin_keys: Sequence[str]) -> None:
        self._keys = tuple(admin_keys)
        self._logged_out: OrderedDict[str, None] = OrderedDict()

    def is_admin_key(self, credential: str) -> bool:
        """Whether ``credential`` is one of the admin keys (constant time)."""
        return is_service_key(credential, self._keys)

    def create(self, admin_key: str) -> str:
        """A cookie value for a session opened with ``admin_key`` (already checked)."""
        payload = f"{int(time.time()) + SESSION_S}.{secrets.token_urlsafe(18)}"
        return f"{payload}.{_mac(admin_key, 'session:' + payload)}"

    def check(self, cookie: str | None) -> Session | None:
        """The session a cookie value stands for, or None if forged, expired or logged out."""
        if not cookie or len(cookie) > 200:
            return None
        expiry, _, rest = cookie.partition(".")
        nonce, _, mac = rest.partition(".")
        if not expiry.isdigit() or int(expiry) < time.time() or nonce in self._logged_out:
            return None
        for key in self._keys:  # every key is tried, so timing does not tell which one matched
            if hmac.compare_digest(mac, _mac(key, f"session:{expiry}.{nonce}")):
                return Session(nonce, _mac(key, "csrf:" + nonce))
        return None

    def log_out(self, session: Session) -> None:
        """Refuse this session from now on in this process (its cookie is also cleared)."""
        self._logged_out[session.nonce] = None
        while len(self._logged_out) > _MAX_LOGGED_OUT:
            self._logged_out.popitem(last=False)

    def of(self, request: Request) -> Session | None:
        """The request's session from its cookie, if valid."""
        return self.check(request.cookies.get(COOKIE))

    def may_act(self, request: Request) -> bool:
        """A change is allowed: an admin key as bearer, or a session cookie plus its CSRF token."""
        credential = presented_credential(request)
        if credential is not None:
            return self.is_admin_key(credential)
        session = self.of(request)
        token = request.headers.get(CSRF_HEADER, "")
        return session is not None and hmac.compare_digest(token.encode(), session.csrf.encode())

    def may_read(self, request: Request) -> bool:
        """Reading is allowed with an admin key as bearer or a valid session cookie."""
        credential = presented_credential(request)
        if credential is not None:
            return self.is_admin_key(credential)
        return self.of(request) is not None


def _mac(key: str, message: str) -> str:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()
