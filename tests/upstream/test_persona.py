from __future__ import annotations

from deepseek_free_api.config import load_settings
from deepseek_free_api.upstream.persona import Persona


def test_web_persona_headers_come_from_settings() -> None:
    persona = Persona.from_settings(load_settings(env={}, overrides={"client_version": "9.9.9"}).persona)
    headers = persona.headers(token="tok", device_id="dev-1", origin="https://chat.deepseek.com")
    assert headers["X-Client-Version"] == "9.9.9"
    assert headers["X-Client-Platform"] == "web"
    assert headers["Authorization"] == "Bearer tok" and headers["X-Device-Id"] == "dev-1"
    assert headers["Origin"] == "https://chat.deepseek.com" and headers["X-App-Version"]


def test_login_has_no_authorization_and_empty_app_version_is_omitted() -> None:
    persona = Persona.from_settings(load_settings(env={}, overrides={"app_version": ""}).persona)
    headers = persona.headers(token=None, device_id=None, origin="https://x")
    assert "Authorization" not in headers and "X-Device-Id" not in headers
    assert "X-App-Version" not in headers


def test_android_persona_sends_no_browser_origin() -> None:
    persona = Persona.from_settings(load_settings(env={}, overrides={"platform": "android"}).persona)
    headers = persona.headers(token="t", device_id="d", origin="https://x")
    assert headers["X-Client-Platform"] == "android" and str(headers["User-Agent"]).startswith("DeepSeek/")
    assert "Origin" not in headers and "X-App-Version" not in headers
