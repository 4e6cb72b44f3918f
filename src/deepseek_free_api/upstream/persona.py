"""The client persona we present to DeepSeek: headers and TLS impersonation, all configuration.

Defaults follow PROTOCOL.md §1.4 as of 2026-09 (web client 2.5.0). DeepSeek uses
``X-Client-Version`` to decide what it serves (stream generation, expert/vision access), so a
version bump must be a configuration change, never a code change.
"""

from __future__ import annotations

from dataclasses import dataclass

# Chrome 140 on Windows; kept in step with the curl_cffi impersonation target below.
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/140.0.0.0 Safari/537.36"
)


@dataclass(frozen=True, slots=True)
class Persona:
    """Who we claim to be (web or android client)."""

    platform: str = "web"
    client_version: str = "2.5.0"  # web 2.3.0–2.5.0 seen 2026-07 → 09
    app_version: str = "20241129.1"  # value of /version.txt, unchanged 2024-12 → 2026
    user_agent: str = DEFAULT_USER_AGENT
    locale: str = "en_US"
    timezone_offset: int = 0  # seconds east of UTC, as the web sends it
    bundle_id: str = "com.deepseek.chat"
    impersonate: str = "chrome"  # curl_cffi target: TLS and HTTP/2 fingerprint of a real browser

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
            headers["X-App-Version"] = self.app_version
            headers["X-Client-Bundle-Id"] = self.bundle_id
        if device_id:
            headers["X-Device-Id"] = device_id
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers
