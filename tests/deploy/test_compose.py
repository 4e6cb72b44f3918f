"""compose.yaml against the Compose Specification's JSON schema, after interpolation, as Compose does.

No container engine runs here, so `docker compose config` cannot be run: the schema that Compose
validates with is vendored beside this file (compose-spec.SOURCE.md), ``${VARIABLES}`` are
interpolated from the `.env` a user makes from `.env.example` (Compose reads `.env` for that), and
the result is validated with formats asserted. Then the server runs with the environment Compose
gives it, against a real redis-server standing in for the `redis` service. Not checked: that
Compose builds and pulls the images, and its network and volumes.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
import yaml
from redis import Redis

from deepseek_free_api.background import BackgroundServer, free_port
from deepseek_free_api.config import load_settings
from tests.api.conftest import API_KEY, TOKENS
from tests.deploy.conftest import Installed, image_uid, private_dir
from tests.deploy.dockerfile import REPO, env_of, stages, start_command
from tests.support.processes import clean_env, running
from tests.support.redis_server import redis_server

HERE = Path(__file__).resolve().parent
COMPOSE = REPO / "compose.yaml"
ENV_EXAMPLE = REPO / ".env.example"
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}; $$ is a literal $.
_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(Exception):
    """A ``${NAME:?message}`` whose variable is unset or empty: Compose stops with the message."""


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """``value`` with every ``${...}`` replaced as Compose does (strings inside lists and maps too)."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        current = env.get(name)
        missing = current is None or (op is not None and op.startswith(":") and current == "")
        if op in (":?", "?") and missing:
            raise MissingVariable(f"{name}: {arg}")
        if op in (":-", "-") and missing:
            return arg
        return current or ""

    result = _VARIABLE.sub(replace, value)
    assert "${" not in result, f"an interpolation form this test does not know: {value}"
    return result


def read_env_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines of an env file (comments and blank lines skipped)."""
    env: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"not KEY=VALUE: {line}"
            env[key.strip()] = value.strip()
    return env


def user_env(**filled: str) -> dict[str, str]:
    """`cp .env.example .env`, with the given values filled in."""
    env = read_env_file(ENV_EXAMPLE.read_text(encoding="utf-8"))
    assert set(filled) <= set(env), "fill in only what .env.example offers"
    env.update(filled)
    return env


@pytest.fixture(scope="module")
def validator() -> Any:
    schema = json.loads((HERE / "compose-spec.json").read_text(encoding="utf-8"))
    return jsonschema_rs.validator_for(schema, validate_formats=True, offline=True)  # $refs are all local


def compose_file() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def errors(validator: Any, document: Any) -> list[str]:
    found = validator.iter_errors(document)
    return [f"{'.'.join(map(str, error.instance_path))}: {error.message}" for error in found]


def test_compose_file_validates_once_keys_are_set(validator: Any) -> None:
    document = interpolate(compose_file(), user_env(API_KEYS="sk-compose-key"))
    assert errors(validator, document) == []


def test_compose_refuses_to_start_without_a_service_key() -> None:
    # .env.example as shipped leaves API_KEYS empty: `docker compose up` stops, naming it.
    with pytest.raises(MissingVariable, match="API_KEYS"):
        interpolate(compose_file(), user_env())


def test_the_schema_check_catches_mistakes(validator: Any) -> None:
    good = interpolate(compose_file(), user_env(API_KEYS="sk-compose-key"))
    misspelled = copy.deepcopy(good)
    misspelled["services"]["server"]["restart_policy"] = "always"  # not a service key
    assert errors(validator, misspelled)
    bad_condition = copy.deepcopy(good)
    bad_condition["services"]["server"]["depends_on"]["redis"]["condition"] = "service_ready"
    assert errors(validator, bad_condition)


def test_compose_runs_the_image_with_redis_and_its_data_volume() -> None:
    document = interpolate(compose_file(), user_env(API_KEYS="sk-compose-key"))
    server, redis = document["services"]["server"], document["services"]["redis"]
    final = stages()[-1]
    image_env = env_of(final)
    assert server["build"] == "."  # the root Dockerfile
    assert f"data:{image_env['DEEPSEEK_FREE_API_SERVER_DATA_DIR']}" in server["volumes"]
    assert set(document["volumes"]) == {"data", "redis"}
    assert server["depends_on"]["redis"]["condition"] == "service_healthy" and "healthcheck" in redis
    # The server reaches Redis by its service name; the published port is the image's.
    assert server["environment"]["DEEPSEEK_FREE_API_STORE_URL"] == "redis://redis:6379/0"
    assert server["ports"] == [f"127.0.0.1:8000:{final.one('EXPOSE')}"]
    assert server["env_file"] == [{"path": ".env", "required": True}]


def test_the_server_loads_the_settings_compose_gives_it() -> None:
    env_file = user_env(API_KEYS="sk-compose-key", DEEP_SEEK_CHAT_AUTHORIZATION="token-one,token-two")
    document = interpolate(compose_file(), env_file)
    # The container's environment: the image's ENV, then env_file, then environment.
    env = {**env_of(stages()[-1]), **env_file, **document["services"]["server"]["environment"]}
    settings = load_settings(env=env)
    assert settings.server.host == "0.0.0.0" and settings.auth.api_keys == ("sk-compose-key",)
    assert not settings.auth.allow_anonymous and len(settings.accounts) == 2


def test_the_server_uses_redis_as_compose_configures_it(
    installed: Installed, simulator: BackgroundServer, tmp_path: Path
) -> None:
    # compose.yaml's server with a real redis-server standing in for its `redis` service.
    env_file = user_env(API_KEYS=API_KEY, DEEP_SEEK_CHAT_AUTHORIZATION=",".join(TOKENS))
    environment = interpolate(compose_file(), env_file)["services"]["server"]["environment"]
    uid = image_uid()
    data = private_dir("deepseek-free-api-compose-", uid)
    port = free_port()
    with redis_server(tmp_path) as redis_url:
        # The container's environment: the image's ENV, then env_file, then environment.
        env = clean_env(**{**env_of(stages()[-1]), **env_file, **environment})
        env.update(
            PATH=installed.path_env(),
            HOME=str(data),
            DEEPSEEK_FREE_API_SERVER_DATA_DIR=str(data),
            DEEPSEEK_FREE_API_SERVER_PORT=str(port),
            DEEPSEEK_BASE_URL=simulator.url,
            DEEPSEEK_FREE_API_STORE_URL=environment["DEEPSEEK_FREE_API_STORE_URL"].replace(
                "redis://redis:6379", redis_url
            ),
        )
        try:
            argv = installed.as_user(start_command(stages()[-1]), uid)
            with running(argv, port, env=env, ready_path="/healthz", cwd=data) as server:
                body = {"model": "deepseek-chat", "messages": [{"role": "user", "content": "with redis"}]}
                headers = {"Authorization": f"Bearer {API_KEY}"}
                chat = server.url + "/v1/chat/completions"
                reply = httpx.post(chat, json=body, headers=headers, timeout=60)
                assert reply.json()["choices"][0]["message"]["content"].startswith("Echo: with redis")
                with Redis.from_url(redis_url) as client:
                    assert client.info("clients")["connected_clients"] >= 2  # the server, and us
            assert server.stopped_gracefully, server.output
            with Redis.from_url(redis_url) as client:
                assert client.info("clients")["connected_clients"] == 1  # it closed its store
            assert not list(data.glob("*.sqlite3"))  # no state file on the volume
        finally:
            shutil.rmtree(data, ignore_errors=True)
