"""The admin page's account actions: add, remove, re-check, re-enable, and the canary on demand.

Each goes through ``account_actions`` (the ``accounts`` command's own code) or ``canary``, on the
shared store, so other processes pick the change up within seconds. Answers and log lines name an
account by its id (a derived ``acct-`` id cut to 4 hex digits in the log) and never carry a token,
password or proxy password.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from deepseek_free_api import account_actions as actions
from deepseek_free_api.accounts import AccountPool
from deepseek_free_api.api.admin.forms import read_json
from deepseek_free_api.api.admin.session import Sessions
from deepseek_free_api.api.ops.labels import account_label
from deepseek_free_api.canary import CanaryRunner, last_run
from deepseek_free_api.settings import Settings
from deepseek_free_api.stores import Stores

log = logging.getLogger(__name__)

_ADD_FIELDS = (
    "name", "token", "email", "mobile", "area_code", "password", "proxy", "locale", "timezone_offset"
)  # fmt: skip


def add_routes(router: APIRouter, sessions: Sessions, settings: Settings, headers: dict[str, str]) -> None:
    """Add the account actions to ``router`` (JSON in, JSON out; a change needs ``may_act``)."""

    def answer(body: dict[str, Any], status: int = 200) -> JSONResponse:
        return JSONResponse(body, status_code=status, headers=headers)

    def refused(exc: actions.ActionError) -> JSONResponse:
        return answer({"error": {"message": exc.message}}, exc.status)

    def allowed(request: Request, *, change: bool = True) -> tuple[Stores, AccountPool | None]:
        if not (sessions.may_act(request) if change else sessions.may_read(request)):
            raise HTTPException(
                401, "Log in at /admin/login, or send an admin key as 'Authorization: Bearer <key>'"
            )
        return request.app.state.stores, request.app.state.ops.pool

    @router.post("/admin/api/accounts")
    async def add_account(request: Request) -> JSONResponse:
        stores, pool = allowed(request)
        form = await read_json(request)
        offset = form.get("timezone_offset")
        if isinstance(offset, int) and not isinstance(offset, bool):  # JSON callers send a number
            form["timezone_offset"] = str(offset)
        values = {name: _text(form.get(name)) for name in _ADD_FIELDS}
        try:
            account = actions.new_account(actions.NewAccount(**values), settings.persona.device_salt)
            record = await actions.add(stores, account, pool)
        except actions.ActionError as exc:
            return refused(exc)
        kind = "login" if account.has_credentials else "token"
        log.info("admin added %s account %s", kind, account_label(record.id))
        return answer(actions.view(record), 201)

    @router.post("/admin/api/accounts/{account_id}/remove")
    async def remove_account(request: Request, account_id: str) -> JSONResponse:
        stores, pool = allowed(request)
        try:
            record = await actions.remove(stores, account_id, pool)
        except actions.ActionError as exc:
            return refused(exc)
        log.info("admin removed account %s", account_label(record.id))
        note = (
            "it is in the configuration, so the next start adds it again" if record.origin == "config" else ""
        )
        return answer({"id": record.id, "removed": True, "note": note})

    @router.post("/admin/api/accounts/{account_id}/check")
    async def check_account(request: Request, account_id: str) -> JSONResponse:
        stores, pool = allowed(request)
        try:
            checked = await actions.check(stores, account_id, settings, pool)
            record = actions.view(await actions.record_of(stores, account_id))
        except actions.ActionError as exc:
            return refused(exc)
        log.info(
            "admin re-checked account %s: %s", account_label(account_id), "ok" if checked.ok else "refused"
        )
        return answer({"ok": checked.ok, "message": checked.message, "account": record})

    @router.post("/admin/api/accounts/{account_id}/enable")
    async def enable_account(request: Request, account_id: str) -> JSONResponse:
        stores, pool = allowed(request)
        try:
            record = await actions.reenable(stores, account_id, pool)
        except actions.ActionError as exc:
            return refused(exc)
        log.info("admin re-enabled account %s", account_label(record.id))
        return answer(actions.view(record))

    @router.post("/admin/api/accounts/{account_id}/canary")
    async def canary_one(request: Request, account_id: str) -> JSONResponse:
        _, pool = allowed(request)
        account = pool.get(account_id) if pool is not None else None
        if account is None or account.source != "server":
            return answer({"error": {"message": f"no server account {account_id[:64]!r}"}}, 404)
        log.info("admin asked for the canary on account %s", account_label(account_id))
        return answer(await _canary(request).run(account, wait_s=settings.pool.wait_timeout_s))

    @router.post("/admin/api/canary")
    async def canary_all(request: Request) -> JSONResponse:
        _, pool = allowed(request)
        found = [pool.get(account_id) for account_id, _ in pool.devices()] if pool is not None else []
        accounts = [a for a in found if a is not None and a.source == "server"]
        log.info("admin asked for the canary on all %d server account(s)", len(accounts))
        runner = _canary(request)
        runs = [await runner.run(account, wait_s=settings.pool.wait_timeout_s) for account in accounts]
        return answer({"runs": runs})

    @router.get("/admin/api/canary")
    async def canary_results(request: Request) -> JSONResponse:
        stores, _ = allowed(request, change=False)
        runs = [run for record in await stores.accounts.all() if (run := last_run(record.canary))]
        return answer({"runs": runs})


def _canary(request: Request) -> CanaryRunner:
    runner: CanaryRunner = request.app.state.canary
    return runner


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise HTTPException(400, "Account fields are strings")
    return value.strip()
