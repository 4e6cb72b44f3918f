"""Routes for tests, outside ``/api/v0``: what the simulator received, its state, and controls.

* ``GET /_sim/requests[?path=<substring>]`` — ``{"requests": [{time, method, path, query, headers,
  body, prompt, account, status, ended}]}`` (Authorization and passwords masked; ``ended`` once the
  answer's last byte went out);
* ``GET /_sim/state`` — accounts, sessions with message trees, in-flight generations, violations
  of the one-generation rule, counters, calls in flight now and at most (``calls``), armed faults,
  files;
* ``POST /_sim/reset`` — back to the configuration;
* ``GET|POST|DELETE /_sim/faults`` — list, arm (``{"fault", "times", "token", "account",
  "prompt_contains", "path", …params}``), clear;
* ``POST /_sim/accounts/<id>`` — ``{"mute_seconds"|"muted_until", "banned", "revoked",
  "rate_limited", "edge_block", "release"}`` and the 2026 signals (``"disabled"``, ``"ban_signal"``,
  ``"mute_signal"``, ``"throttle_burst"``, ``"throttle_window_seconds"``, ``"throttle_signal"``);
* ``POST /_sim/models/<model_type>`` — ``{"enabled": false}`` switches a mode off in
  ``client/settings`` and refuses its completions (``INVALID_MODEL_TYPE``), as DeepSeek did to
  expert and vision in 2026-09; ``{"enabled": true}`` switches it back on (so does a reset).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .config import AccountConfig, FaultSpec, _check_signals
from .core import Simulator
from .envelope import json_response
from .files import file_json
from .sessions import message_json, session_json
from .state import SIGNAL_FIELDS

_ACCOUNT_FLAGS = ("banned", "revoked", "rate_limited")


def state_json(sim: Simulator) -> dict[str, Any]:
    """Everything a test may want to assert about the simulator."""
    world = sim.world
    accounts = [a.describe() for a in world.accounts.values()]
    sessions = []
    for session in world.sessions.values():
        view = session_json(session)
        view["account"] = session.account_id
        view["messages"] = [
            message_json(m) | {"status": m.status}
            for m in sorted(session.messages.values(), key=lambda m: m.message_id)
        ]
        sessions.append(view)
    return {
        "accounts": accounts,
        "sessions": sessions,
        "in_flight": {a["id"]: a["generation"] for a in accounts if a["generation"]},
        "violations": list(world.violations),
        "counters": dict(world.counters),
        "calls": world.calls.describe(),
        "faults": sim.faults.describe(),
        "files": [file_json(f) | {"account": f.account_id} for f in world.files.values()],
    }


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    value = orjson.loads(raw) if raw else {}
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


def routes(sim: Simulator) -> list[Route]:
    """The ``/_sim`` routes bound to ``sim``."""

    async def requests(request: Request) -> Response:
        path = request.query_params.get("path")
        entries = [e for e in sim.world.requests if not path or path in e["path"]]
        return json_response({"requests": entries})

    async def state(request: Request) -> Response:
        return json_response(state_json(sim))

    async def reset(request: Request) -> Response:
        for account in sim.world.accounts.values():
            account.release()
        sim.reset()
        return json_response({"ok": True})

    async def pow_restart(request: Request) -> Response:
        sim.pow.restart()  # every challenge issued so far is now unknown (answers get 40301)
        return json_response({"ok": True})

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            sim.faults.clear()
        elif request.method == "POST":
            data = await _body(request)
            known = {"fault", "times", "token", "account", "prompt_contains", "path"}
            params = {k: v for k, v in data.items() if k not in known}
            try:
                spec = FaultSpec(**{k: v for k, v in data.items() if k in known}, params=params)
                armed = sim.faults.arm(spec)
            except (TypeError, ValueError) as exc:
                return json_response({"error": str(exc)}, status=400)
            return json_response({"armed": armed.describe()})
        return json_response({"faults": sim.faults.describe()})

    async def account(request: Request) -> Response:
        target = sim.world.accounts.get(request.path_params["account_id"])
        if target is None:
            return json_response({"error": "unknown account"}, status=404)
        data = await _body(request)
        if "mute_seconds" in data:
            target.muted_until = time.time() + float(data["mute_seconds"])
        if "muted_until" in data:
            target.muted_until = float(data["muted_until"] or 0)
        for flag in _ACCOUNT_FLAGS:
            if flag in data:
                setattr(target, flag, bool(data[flag]))
        if "edge_block" in data:
            target.edge_block = str(data["edge_block"] or "")
        signals = {name: data[name] for name in SIGNAL_FIELDS if name in data}
        try:  # checked as a configuration would be
            _check_signals(
                replace(AccountConfig(target.id, token="x", edge_block=target.edge_block), **signals)
            )
        except (TypeError, ValueError) as exc:
            return json_response({"error": str(exc)}, status=400)
        for name, value in signals.items():
            setattr(target, name, value)
        if data.get("release"):
            target.release()
        return json_response(target.describe())

    async def model(request: Request) -> Response:
        model_type = request.path_params["model_type"]
        if model_type not in {m.model_type for m in sim.models}:
            return json_response({"error": "unknown model_type"}, status=404)
        enabled = (await _body(request)).get("enabled")
        if not isinstance(enabled, bool):
            return json_response({"error": 'send {"enabled": true|false}'}, status=400)
        sim.models = tuple(
            replace(m, enabled=enabled) if m.model_type == model_type else m for m in sim.models
        )
        return json_response(
            {"models": [{"model_type": m.model_type, "enabled": m.enabled} for m in sim.models]}
        )

    return [
        Route("/_sim/requests", requests, methods=["GET"]),
        Route("/_sim/state", state, methods=["GET"]),
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/pow/restart", pow_restart, methods=["POST"]),
        Route("/_sim/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sim/accounts/{account_id}", account, methods=["POST"]),
        Route("/_sim/models/{model_type}", model, methods=["POST"]),
    ]
