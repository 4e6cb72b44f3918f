"""The client persona we present to DeepSeek: headers and TLS impersonation, all configuration.

The values come from ``config.PersonaSettings`` (its defaults follow PROTOCOL.md §1.4); there are
no defaults here, so there is one place to bump a version. DeepSeek uses ``X-Client-Version`` to
decide what it serves (stream generation, expert/vision access).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deepseek_free_api.settings import PersonaSettings


@dataclass(frozen=True, slots=True)
class Persona:
    """Who we claim to be (web or android client)."""

    platform: str  # "web" or "android"
    client_version: str
    app_version: str  # value of /version.txt; empty = do not send X-App-Version
    user_agent: str
    locale: str
    timezone_offset: int  # seconds east of UTC, as the web sends it
    bundle_id: str
    impersonate: str  # curl_cffi target: TLS and HTTP/2 fingerprint of a real browser

    @classmethod
    def from_settings(cls, settings: PersonaSettings) -> Persona:
        """The persona ``persona.*`` configures (the same fields, minus the device salt)."""
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})

    def headers(self, *, token: str | None, device_id: str | None, origin: str) -> dict[str, str]:
        """Headers sent on every API call; ``token`` None for login."""
        headers = {
            "User-Agent": self.user_agent,
            "Accept": "*/*",
            "Accept-Language": self.locale.replace("_", "-") + ",en;q=0.9",
            "X-Client-Platform": self.platform,
            "X-Client-Version": self.client_version,
            "X-Client-Locale": self.locale,
            "X-Client-Timezone-Offset": str(self.timezone_offset),
        }
        if self.platform == "web":
            headers["Origin"] = origin
            headers["Referer"] = origin + "/"
            headers["X-Client-Bundle-Id"] = self.bundle_id
        if self.app_version:
            headers["X-App-Version"] = self.app_version
        if device_id:
            headers["X-Device-Id"] = device_id
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers
