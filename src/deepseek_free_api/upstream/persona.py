"""The client persona we present to DeepSeek: headers and TLS impersonation, all configuration.

The values come from ``config.PersonaSettings`` (its defaults follow PROTOCOL.md §1.4); there are
no defaults here, so there is one place to bump a version. DeepSeek uses ``X-Client-Version`` to
decide what it serves (stream generation, expert/vision access).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deepseek_free_api.settings import PersonaSettings, TimezoneOffset

# What curl_cffi adds by itself when it impersonates Chrome are the headers of a *page load*
# (Sec-Fetch-Mode: navigate, Sec-Fetch-Dest: document, Upgrade-Insecure-Requests…) and a
# sec-ch-ua-platform of its own ("macOS" whatever the User-Agent says). The web app's calls are
# fetch() calls from the chat page: a WAF that compares them sees two different browsers. These
# replace them (None = not sent); the Chrome brand list (sec-ch-ua) stays the impersonated one's.
_WEB_FETCH = {
    "sec-ch-ua-mobile": "?0",
    "Sec-Fetch-Site": "same-origin",
    "Sec-Fetch-Mode": "cors",
    "Sec-Fetch-Dest": "empty",
    "Upgrade-Insecure-Requests": None,
    "Sec-Fetch-User": None,
}
# The Android app is not a browser: none of a browser's client hints or fetch metadata.
_APP = dict.fromkeys(
    (
        "sec-ch-ua",
        "sec-ch-ua-mobile",
        "sec-ch-ua-platform",
        "Sec-Fetch-Site",
        "Sec-Fetch-Mode",
        "Sec-Fetch-Dest",
        "Sec-Fetch-User",
        "Upgrade-Insecure-Requests",
    )
)
_PLATFORMS = (
    ("Windows NT", "Windows"),
    ("Macintosh", "macOS"),
    ("CrOS", "Chrome OS"),
    ("Android", "Android"),
    ("Linux", "Linux"),
)


def ua_platform(user_agent: str) -> str | None:
    """The ``sec-ch-ua-platform`` a browser with this User-Agent sends (``Windows``…), if known."""
    return next((name for marker, name in _PLATFORMS if marker in user_agent), None)


def chrome_major(text: str) -> int | None:
    """Chrome's major version in a User-Agent (``Chrome/145.0…``) or an impersonate target (``chrome145``)."""
    found = re.search(r"chrome/?(\d+)", text, re.IGNORECASE)
    return int(found.group(1)) if found else None


def host_timezone_offset() -> int:
    """This machine's offset from UTC in seconds east, as the web app sends it."""
    return time.localtime().tm_gmtoff


def accept_language(locale: str) -> str:
    """The ``Accept-Language`` of a Chrome set to ``locale`` (``zh-CN,zh;q=0.9,en;q=0.8``)."""
    tag = locale.replace("_", "-")
    base = tag.split("-", 1)[0]
    others = [base] * (base != tag) + ["en"] * (base.lower() != "en")
    return ",".join([tag, *(f"{lang};q=0.{9 - index}" for index, lang in enumerate(others))])


@dataclass(frozen=True, slots=True)
class Locality:
    """Where an account is used from: its own locale and time zone (None: the persona's)."""

    locale: str | None = None
    timezone_offset: TimezoneOffset | None = None  # seconds east of UTC; "auto": this machine's


@dataclass(frozen=True, slots=True)
class Persona:
    """Who we claim to be (web or android client)."""

    platform: str  # "web" or "android"
    client_version: str
    app_version: str  # value of /version.txt; empty = do not send X-App-Version
    user_agent: str
    locale: str
    timezone_offset: int | None  # seconds east of UTC, as the web sends it; None = this machine's
    bundle_id: str
    impersonate: str  # curl_cffi target: TLS and HTTP/2 fingerprint of a real browser

    @classmethod
    def from_settings(cls, settings: PersonaSettings) -> Persona:
        """The persona ``persona.*`` configures (the same fields, minus the device salt)."""
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})

    def problems(self) -> list[str]:
        """Ways in which the User-Agent and the impersonated browser disagree (each a warning)."""
        if self.platform != "web":
            return []
        said, shown = chrome_major(self.user_agent), chrome_major(self.impersonate)
        if said is not None and shown is not None and said != shown:
            return [
                f"persona.user_agent says Chrome {said} but persona.impersonate is {self.impersonate!r}: "
                "DeepSeek would see the TLS fingerprint and client hints of one browser and the "
                "User-Agent of another; set both to the same version"
            ]
        return []

    def headers(
        self,
        *,
        token: str | None,
        device_id: str | None,
        origin: str,
        page: str = "/",
        locality: Locality | None = None,
    ) -> dict[str, str | None]:
        """Headers sent on every API call; ``token`` None for login; ``page``: the chat page it comes from.

        ``locality``: the account's own locale and time zone, where it has them. A value of None
        removes a header curl_cffi would add for the impersonated browser.
        """
        locale = (locality and locality.locale) or self.locale
        offset = self.timezone_offset
        if locality is not None and locality.timezone_offset is not None:
            offset = None if locality.timezone_offset == "auto" else locality.timezone_offset
        headers: dict[str, str | None] = {
            "User-Agent": self.user_agent,
            "Accept": "*/*",
            "Accept-Language": accept_language(locale),
            "X-Client-Platform": self.platform,
            "X-Client-Version": self.client_version,
            "X-Client-Locale": locale.replace("-", "_"),  # the web app writes zh_CN, en_US
            "X-Client-Timezone-Offset": str(host_timezone_offset() if offset is None else offset),
        }
        if self.platform == "web":
            headers.update(_WEB_FETCH)
            if (platform := ua_platform(self.user_agent)) is not None:
                headers["sec-ch-ua-platform"] = f'"{platform}"'
            headers["Origin"] = origin
            headers["Referer"] = origin + page
            headers["X-Client-Bundle-Id"] = self.bundle_id
        else:
            headers.update(_APP)
        if self.app_version:
            headers["X-App-Version"] = self.app_version
        if device_id:
            headers["X-Device-Id"] = device_id
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers
