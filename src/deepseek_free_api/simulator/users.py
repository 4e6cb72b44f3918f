"""``users/login``, ``users/current``, ``client/settings`` and ``chat/create_pow_challenge``."""

from __future__ import annotations

import re
import secrets
from typing import Any

from starlette.responses import Response

from .core import Call
from .envelope import biz_error, check_fields, json_response, ok, read_json
from .pow import POW_PATHS
from .signals import login_refusal
from .state import Account


def _digits(mobile: str) -> str:
    # Same normalisation DS2-go applies before login (client_auth.go, 2026-05).
    digits = re.sub(r"\D", "", mobile)
    return digits[2:] if len(digits) == 13 and digits.startswith("86") else digits


def user_json(account: Account) -> dict[str, Any]:
    """The ``user`` object of login / current (2025-04+ shape)."""
    return {
        "id": account.id,
        "token": account.token,
        "email": account.email,
        "mobile_number": account.mobile,
        "area_code": "+86" if account.mobile else None,
        "status": 0,
        "id_profile": {
            "provider": "EMAIL" if account.email else "MOBILE",
            "id": account.id,
            "name": account.id,
        },
        "chat": {"is_muted": int(account.is_muted()), "mute_until": account.muted_until},
    }


async def login(call: Call) -> Response:
    """Email or mobile + password; ``device_id`` and ``os`` are mandatory (NIY ref §0)."""
    body = await read_json(call.request, call.body)
    check_fields(
        body,
        {"password": "str", "device_id": "str", "os": "str"},
        {"email": "str?", "mobile": "str?", "area_code": "str?"},
    )
    email, mobile = body.get("email"), body.get("mobile")
    found = None
    for account in call.sim.world.accounts.values():
        if not account.password:
            continue
        if email and account.email and account.email.lower() == str(email).lower():
            found = account
        elif mobile and account.mobile and _digits(account.mobile) == _digits(str(mobile)):
            found = account
        if found:
            break
    if found is None or not secrets.compare_digest(found.password or "", str(body["password"])):
        call.sim.world.count("login_failures")
        return biz_error(2, "PASSWORD_OR_USER_NAME_IS_WRONG")
    refused = login_refusal(found)  # banned (biz_code 10) or disabled (90008), after the password
    if refused is not None:
        call.sim.world.count("login_failures")
        call.entry["account"] = found.id
        return refused
    if found.revoked or not found.token:
        call.sim.world.set_token(found, f"sim-{secrets.token_urlsafe(24)}")
        found.revoked = False
    found.logins += 1
    call.entry["account"] = found.id
    return ok({"code": 0, "msg": "", "user": user_json(found)})


async def current(call: Call) -> Response:
    """The token's user; the token sits in ``biz_data`` since 2025-04-08 (DFA 37f4c58)."""
    return ok(user_json(call.user))


async def settings(call: Call) -> Response:
    """``client/settings?scope=model``: model configs with limits (FLY ``_discover_models``, 2026-05)."""
    configs = [
        {
            "model_type": model.model_type,
            "enabled": model.enabled,
            "input_character_limit": model.input_character_limit,
            "think_feature": {"enabled": True},
            "search_feature": {"enabled": model.model_type != "vision"},
            "file_feature": {"enabled": True},
        }
        for model in call.sim.models
    ]
    return ok({"settings": {"model_configs": {"value": configs}}})


async def create_pow_challenge(call: Call) -> Response:
    """A fresh DeepSeekHashV1 challenge for ``target_path``; no User-Agent -> HTTP 429 (NIY)."""
    if not call.request.headers.get("user-agent"):
        return json_response({"detail": "Too Many Requests"}, status=429)
    body = await read_json(call.request, call.body)
    check_fields(body, {"target_path": "str"})
    if body["target_path"] not in POW_PATHS:
        return biz_error(1, "INVALID_TARGET_PATH")
    call.sim.world.count("pow_issued")
    return ok({"challenge": call.sim.pow.issue(body["target_path"]).to_json()})
