"""Tokens, login, mute, ban, settings and request validation."""

# ruff: noqa: E501 - long literal streams and one-line assertions read better unwrapped

from __future__ import annotations

import httpx

from .client import WEB_HEADERS, Sim, parse_sse

INVALID_TOKEN = {"code": 40003, "msg": "Authorization Failed (invalid token)", "data": None}
LOGIN = {"email": "demo@example.com", "password": "demo-password-1", "device_id": "dev-1", "os": "web"}


def test_unknown_missing_and_revoked_tokens_get_40003(client: httpx.Client) -> None:
    assert Sim(client, "nope").get("users/current").json() == INVALID_TOKEN
    assert client.get("/api/v0/users/current", headers=WEB_HEADERS).json() == INVALID_TOKEN
    sim = Sim(client, "demo-token-2")
    assert sim.get("users/current").json()["data"]["biz_data"]["id"] == "demo-2"
    client.post("/_sim/accounts/demo-2", json={"revoked": True})
    assert sim.get("users/current").json() == INVALID_TOKEN
    assert sim.post("chat_session/create", {}).json() == INVALID_TOKEN


def test_login_with_email_and_password(client: httpx.Client) -> None:
    response = client.post("/api/v0/users/login", json=LOGIN, headers=WEB_HEADERS).json()
    assert response["code"] == 0 and response["data"]["biz_code"] == 0
    user = response["data"]["biz_data"]["user"]
    assert user["email"] == "demo@example.com" and user["chat"]["is_muted"] == 0
    assert Sim(client, user["token"]).get("users/current").json()["data"]["biz_data"]["id"] == "demo-mail"


def test_login_wrong_password_is_biz_code_2(client: httpx.Client) -> None:
    body = {**LOGIN, "password": "wrong-password-9"}
    data = client.post("/api/v0/users/login", json=body, headers=WEB_HEADERS).json()["data"]
    assert data["biz_code"] == 2 and data["biz_msg"] == "PASSWORD_OR_USER_NAME_IS_WRONG"


def test_login_without_device_id_or_os_is_422(client: httpx.Client) -> None:
    body = {k: v for k, v in LOGIN.items() if k not in ("device_id", "os")}
    response = client.post("/api/v0/users/login", json=body, headers=WEB_HEADERS)
    assert response.status_code == 422
    assert {tuple(d["loc"]) for d in response.json()["detail"]} == {("body", "device_id"), ("body", "os")}


def test_relogin_after_revocation_gives_a_new_working_token(client: httpx.Client) -> None:
    old = client.post("/api/v0/users/login", json=LOGIN, headers=WEB_HEADERS).json()["data"]["biz_data"][
        "user"
    ]
    client.post("/_sim/accounts/demo-mail", json={"revoked": True})
    assert Sim(client, old["token"]).get("users/current").json() == INVALID_TOKEN
    new = client.post("/api/v0/users/login", json=LOGIN, headers=WEB_HEADERS).json()["data"]["biz_data"][
        "user"
    ]
    assert new["token"] != old["token"]
    assert Sim(client, new["token"]).get("users/current").json()["code"] == 0


def test_missing_completion_fields_are_422_and_json_content_type_is_required(sim: Sim) -> None:
    response = sim.post("chat/completion", {"chat_session_id": "x"})
    assert response.status_code == 422
    missing = {d["loc"][1] for d in response.json()["detail"] if d["type"] == "missing"}
    assert {"prompt", "thinking_enabled", "search_enabled", "ref_file_ids"} <= missing
    form = sim.client.post(
        "/api/v0/chat_session/create", content=b"{}", headers=sim.h(**{"Content-Type": "text/plain"})
    )
    assert form.status_code == 422 and form.json()["detail"][0]["loc"] == ["body"]


def test_muted_account_answers_biz_code_5_as_json(sim: Sim, client: httpx.Client) -> None:
    client.post("/_sim/accounts/demo-1", json={"mute_seconds": 600})
    session = sim.session()  # session creation still works while muted
    response = sim.complete(session, "hi")
    assert response.headers["content-type"].startswith("application/json")
    data = response.json()["data"]
    assert data["biz_code"] == 5 and data["biz_msg"] == "user is muted"
    assert data["biz_data"]["is_muted"] == 1 and data["biz_data"]["mute_until"] > 0


def test_banned_account_gets_no_session_and_empty_answers(client: httpx.Client) -> None:
    client.post("/_sim/accounts/demo-3", json={"banned": True})
    sim = Sim(client, "demo-token-3")
    data = sim.post("chat_session/create", {}).json()["data"]
    assert data["biz_code"] == 0 and data["biz_data"] is None


def test_model_settings_list_the_three_model_types(sim: Sim) -> None:
    data = sim.get("client/settings", scope="model").json()["data"]["biz_data"]
    configs = {c["model_type"]: c for c in data["settings"]["model_configs"]["value"]}
    assert set(configs) == {"default", "expert", "vision"}
    assert configs["expert"]["input_character_limit"] == 163840 and configs["default"]["enabled"]


def test_session_lifecycle_create_page_delete(sim: Sim) -> None:
    first = sim.post("chat_session/create", {}).json()["data"]["biz_data"]
    assert first["ttl_seconds"] == 259200 and first["chat_session"]["current_message_id"] is None
    sim.session()
    page = sim.get("chat_session/fetch_page", **{"lte_cursor.pinned": "false"}).json()["data"]["biz_data"]
    assert len(page["chat_sessions"]) == 2 and page["has_more"] is False
    assert (
        sim.post("chat_session/delete", {"chat_session_id": first["chat_session"]["id"]}).json()["code"] == 0
    )
    assert len(sim.get("chat_session/fetch_page").json()["data"]["biz_data"]["chat_sessions"]) == 1
    sim.post("chat_session/delete_all", {})
    assert sim.get("chat_session/fetch_page").json()["data"]["biz_data"]["chat_sessions"] == []
    other = Sim(sim.client, "demo-token-2")
    assert other.get("chat_session/fetch_page").json()["data"]["biz_data"]["chat_sessions"] == []


def test_completion_on_a_foreign_session_is_refused(sim: Sim, client: httpx.Client) -> None:
    foreign = Sim(client, "demo-token-2").session()
    data = sim.complete(foreign, "hi").json()["data"]
    assert data["biz_code"] != 0 and data["biz_msg"] == "ILLEGAL_CHAT_SESSION_ID"


def test_busy_error_frame_is_sse(sim: Sim) -> None:
    response = sim.complete(sim.session(), "hi", headers={"X-Sim-Fault": "busy"})
    assert parse_sse(response.text)[0].json()["content"].startswith("A message is being generated")
