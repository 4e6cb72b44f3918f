"""render.yaml: a Blueprint that builds the root Dockerfile, with its disk where the image keeps state.

Render's own Blueprint validation (its CLI or API, with an account) is not run here, and its JSON
schema is published without a licence to copy it; what is checked is that the Blueprint and the
image agree, and that no secret is committed.
"""

from __future__ import annotations

from typing import Any

import httpx
import yaml

from deepseek_free_api.app import create_app
from deepseek_free_api.background import BackgroundServer
from deepseek_free_api.config import ACCOUNTS_ENV, load_settings
from tests.deploy.dockerfile import REPO, env_of, stages


def web_service() -> dict[str, Any]:
    blueprint = yaml.safe_load((REPO / "render.yaml").read_text(encoding="utf-8"))
    (service,) = blueprint["services"]
    assert service["type"] == "web"
    return dict(service)


def test_render_builds_the_image_and_keeps_its_data_on_a_disk() -> None:
    service = web_service()
    assert service["runtime"] == "docker"
    assert (REPO / service["dockerfilePath"]).resolve() == REPO / "Dockerfile"
    image_env = env_of(stages()[-1])
    assert service["disk"]["mountPath"] == image_env["DEEPSEEK_FREE_API_SERVER_DATA_DIR"]
    assert service["plan"] != "free"  # Render attaches disks to paid instances only
    # Render routes to PORT; the image listens on its own port setting.
    values = {item["key"]: item.get("value") for item in service["envVars"]}
    assert values["PORT"] == image_env["DEEPSEEK_FREE_API_SERVER_PORT"] == stages()[-1].one("EXPOSE")


def test_render_checks_a_route_the_server_answers() -> None:
    # Render's checker sends no key; the image's default settings need one for everything else.
    path = web_service()["healthCheckPath"]
    settings = load_settings(env={"API_KEYS": "sk-render-key", "DEEPSEEK_FREE_API_STORE_URL": "memory://"})
    with BackgroundServer(create_app(settings)) as server:
        assert httpx.get(server.url + path, timeout=10).status_code == 200


def test_secrets_are_asked_for_not_committed() -> None:
    variables = [item for item in web_service()["envVars"] if item["key"] != "PORT"]
    assert {item["key"] for item in variables} == {"API_KEYS", ACCOUNTS_ENV}
    assert all(item == {"key": item["key"], "sync": False} for item in variables)
    # Both are names the server reads.
    settings = load_settings(env={"API_KEYS": "sk-render-key", ACCOUNTS_ENV: "token-one"})
    assert settings.auth.api_keys == ("sk-render-key",) and len(settings.accounts) == 1
    assert not settings.warnings
