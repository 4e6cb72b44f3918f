"""One DeepSeek account: a stable identity, its current token and optional login credentials.

An account's ``id`` is safe to log and show; its token and password never appear in ``repr``,
``str`` or any message built from an account.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

from deepseek_free_api.config import device_id_for
from deepseek_free_api.settings import TimezoneOffset

AccountSource = Literal["server", "caller"]

# 12 hex digits (48 bits) keep ids short while making an accidental collision among a few
# thousand caller tokens negligible; the pool still checks and lengthens the id on a clash.
ID_HEX_DIGITS = 12


def _digest(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def token_account_id(token: str, *, hex_digits: int = ID_HEX_DIGITS) -> str:
    """The id of a token-only account: ``acct-`` and a prefix of the token's SHA-256."""
    return "acct-" + _digest("token", token)[:hex_digits]


@dataclass(eq=False)
class Account:
    """A DeepSeek account; ``token`` changes after a login, everything else is stable."""

    id: str
    token: str | None = field(default=None, repr=False)
    email: str | None = None
    mobile: str | None = None
    area_code: str | None = None  # with ``mobile``: the country calling code users/login wants
    password: str | None = field(default=None, repr=False)
    # One stable device id per account: a device id shared by many accounts is the strongest
    # multi-account ban signal reported by peers (PROTOCOL.md §2.2, 2026).
    device_id: str = ""
    source: AccountSource = "server"
    # An HTTP(S) or SOCKS proxy this account's requests to DeepSeek go through (its URL may hold a password).
    proxy: str | None = field(default=None, repr=False)
    # Its own X-Client-Locale/Accept-Language and X-Client-Timezone-Offset (None: persona.*'s).
    locale: str | None = None
    timezone_offset: TimezoneOffset | None = None

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("an account needs a non-empty id")
        if not self.device_id:
            self.device_id = device_id_for("account:" + self.id, "")

    @classmethod
    def from_token(
        cls,
        token: str,
        *,
        name: str | None = None,
        source: AccountSource = "server",
        device_id: str = "",
        proxy: str | None = None,
        locale: str | None = None,
        timezone_offset: TimezoneOffset | None = None,
    ) -> Account:
        """An account known only by its token; the id is a hash of it unless ``name`` is given."""
        if not token:
            raise ValueError("empty token")
        account_id = name or token_account_id(token)
        return cls(
            id=account_id,
            token=token,
            source=source,
            device_id=device_id,
            proxy=proxy,
            locale=locale,
            timezone_offset=timezone_offset,
        )

    @classmethod
    def from_credentials(
        cls,
        *,
        password: str,
        email: str | None = None,
        mobile: str | None = None,
        area_code: str | None = None,
        name: str | None = None,
        token: str | None = None,
        device_id: str = "",
        proxy: str | None = None,
        locale: str | None = None,
        timezone_offset: TimezoneOffset | None = None,
    ) -> Account:
        """An account that can log in; the id derives from the e-mail or mobile, not the token."""
        login = email or mobile
        if not login or not password:
            raise ValueError("credentials need a password and an e-mail or a mobile number")
        account_id = name or "acct-" + _digest("login", login)[:ID_HEX_DIGITS]
        return cls(
            id=account_id,
            token=token,
            email=email,
            mobile=mobile,
            area_code=area_code,
            password=password,
            device_id=device_id,
            proxy=proxy,
            locale=locale,
            timezone_offset=timezone_offset,
        )

    @property
    def has_credentials(self) -> bool:
        """Whether the pool can obtain a new token by logging in."""
        return bool(self.password and (self.email or self.mobile))

    def __repr__(self) -> str:
        # Hand-written so that no future field can leak a secret through the dataclass repr.
        return (
            f"Account(id={self.id!r}, source={self.source!r}, has_token={self.token is not None}, "
            f"has_credentials={self.has_credentials}, has_proxy={self.proxy is not None})"
        )

    def __str__(self) -> str:
        return self.id
