"""The admin routes: pages for people (session cookie) and JSON actions for the pages' scripts."""

from __future__ import annotations

import logging
import re
import time
from importlib import resources
from typing import Any

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from deepseek_free_api.account_actions import view
from deepseek_free_api.accounts import AccountPool, AccountStatus
from deepseek_free_api.api.admin import actions, pages
from deepseek_free_api.api.admin.forms import read_form, read_json
from deepseek_free_api.api.admin.session import COOKIE, SESSION_S, Session, Sessions
from deepseek_free_api.api.ops.readiness import readiness
from deepseek_free_api.canary import last_run
from deepseek_free_api.chat.models import list_models
from deepseek_free_api.settings import Settings
from deepseek_free_api.stores import AccountRecord, KeyExistsError, KeyLimits, Stores

log = logging.getLogger(__name__)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_STATIC = {"admin.css": "text/css; charset=utf-8", "admin.js": "text/javascript; charset=utf-8"}
# Every asset comes from this server; nothing inline runs, so an injected tag could not either.
_CSP = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
_HEADERS = {"Content-Security-Policy": _CSP, "Cache-Control": "no-store", "X-Frame-Options": "DENY"}


def router_for(settings: Settings) -> APIRouter:
    """The ``/admin`` routes, or none (so ``/admin`` is a 404) when no admin key is configured."""
    router = APIRouter(include_in_schema=False)
    if not settings.auth.admin_keys:
        return router
    sessions = Sessions(settings.auth.admin_keys)

    def page(request: Request) -> Session:
        session = sessions.of(request)
        if session is None:  # a browser is sent to the form; 303 keeps it a GET
            raise HTTPException(303, headers={"Location": "/admin/login"})
        return session

    def html(text: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(text, status_code=status, headers=_HEADERS)

    @router.get("/admin/login")
    async def login_form() -> HTMLResponse:
        return html(pages.login())

    @router.post("/admin/login")
    async def login(request: Request) -> Response:
        key = (await read_form(request)).get("key", "")
        if not key or not sessions.is_admin_key(key):
            log.warning("admin login refused from %s", request.client.host if request.client else "unknown")
            return html(pages.login("That is not an admin key."), 401)
        response = RedirectResponse("/admin", status_code=303, headers=_HEADERS)
        response.set_cookie(
            COOKIE, sessions.create(key), max_age=SESSION_S, path="/admin",
            httponly=True, samesite="strict", secure=_https(request),
        )  # fmt: skip
        return response

    @router.post("/admin/logout")
    async def logout(request: Request) -> Response:
        session = sessions.of(request)
        if session is not None and (await read_form(request)).get("csrf") == session.csrf:
            sessions.log_out(session)
        response = RedirectResponse("/admin/login", status_code=303, headers=_HEADERS)
        response.delete_cookie(
            COOKIE, path="/admin", httponly=True, samesite="strict", secure=_https(request)
        )
        return response

    @router.get("/admin")
    async def accounts_page(request: Request) -> HTMLResponse:
        session = page(request)
        statuses, waiting, ready, reasons = await _accounts(request)
        records = {record.id: record for record in await _stores(request).accounts.all()}
        return html(
            pages.accounts(
                statuses, records, waiting=waiting, ready=ready, reasons=reasons, csrf=session.csrf
            )
        )

    @router.get("/admin/keys")
    async def keys_page(request: Request) -> HTMLResponse:
        session = page(request)
        stores = _stores(request)
        return html(pages.keys(await _key_rows(stores), store=stores.location.describe(), csrf=session.csrf))

    @router.get("/admin/playground")
    async def playground_page(request: Request) -> HTMLResponse:
        session = page(request)
        return html(pages.playground([m.id for m in list_models()], csrf=session.csrf))

    @router.get("/admin/api/accounts")
    async def accounts_json(request: Request) -> JSONResponse:
        _may(sessions.may_read(request))
        statuses, waiting, ready, reasons = await _accounts(request)
        records = {record.id: record for record in await _stores(request).accounts.all()}
        body = {
            "ready": ready,
            "reasons": reasons,
            "waiting": waiting,
            "accounts": [_status(s, records.get(s.id)) for s in statuses],
        }
        return JSONResponse(body, headers=_HEADERS)

    @router.post("/admin/api/keys")
    async def create_key(request: Request) -> JSONResponse:
        _may(sessions.may_act(request))
        form = await read_json(request)
        name = str(form.get("name", ""))
        if not _NAME.fullmatch(name):
            return _refused(400, "A name takes 1-64 letters, digits, '.', '_' or '-'")
        try:
            limits = _limits(form)
        except ValueError as exc:
            return _refused(400, str(exc))
        try:
            record, key = await _stores(request).keys.create(name, limits)
        except KeyExistsError as exc:
            return _refused(409, str(exc))
        log.info("admin created service key %r (sk-%s…)", record.name, record.prefix)
        return JSONResponse({"name": record.name, "key": key}, status_code=201, headers=_HEADERS)

    @router.post("/admin/api/keys/{name}/revoke")
    async def revoke_key(request: Request, name: str) -> JSONResponse:
        _may(sessions.may_act(request))
        if not await _stores(request).keys.revoke(name):
            return _refused(404, f"No active service key named {name[:64]!r}")
        log.info("admin revoked service key %r", name[:64])
        return JSONResponse({"name": name, "revoked": True}, headers=_HEADERS)

    actions.add_routes(router, sessions, settings, _HEADERS)

    @router.get("/admin/static/{name}")
    async def static(name: str) -> Response:
        if name not in _STATIC:
            raise HTTPException(404)
        text = resources.files(__package__).joinpath("static", name).read_text()
        return Response(text, media_type=_STATIC[name], headers={"Cache-Control": "no-cache"})

    return router


async def _accounts(request: Request) -> tuple[list[AccountStatus], int, bool, list[str]]:
    ops = request.app.state.ops
    pool: AccountPool | None = ops.pool
    statuses = await pool.snapshot() if pool is not None else []
    ready, body = readiness(statuses, caller_tokens=ops.caller_tokens)
    reasons = [str(r.get("message", r.get("reason", ""))) for r in body.get("reasons", [])]
    return statuses, pool.waiting if pool is not None else 0, ready, reasons


def _https(request: Request) -> bool:
    # Behind a TLS proxy the cookie is marked Secure; a forged header only makes it stricter.
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def _status(s: AccountStatus, record: AccountRecord | None) -> dict[str, Any]:
    shown = {} if record is None else view(record) | {"canary": last_run(record.canary)}
    return shown | {
        "id": s.id, "source": s.source, "state": s.state.value, "until": s.until, "reason": s.reason,
        "last_error": s.last_error, "in_flight": s.in_flight, "leases": s.leases,
        "successes": s.successes, "errors": s.errors, "leased_at": s.leased_at,
    }  # fmt: skip


async def _key_rows(stores: Stores) -> list[tuple[Any, Any]]:
    return [(record, await stores.usage.totals(record.name)) for record in await stores.keys.all()]


def _stores(request: Request) -> Stores:
    stores: Stores = request.app.state.stores
    return stores


def _may(allowed: bool) -> None:
    if not allowed:
        raise HTTPException(
            401, "Log in at /admin/login, or send an admin key as 'Authorization: Bearer <key>'"
        )


def _refused(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message}}, status_code=status, headers=_HEADERS)


def _limits(form: dict[str, Any]) -> KeyLimits:
    def count(field: str) -> int | None:
        value = form.get(field)
        if value in (None, ""):
            return None
        number = int(str(value))
        if not 1 <= number <= 10**12:
            raise ValueError(f"{field} must be a whole number from 1")
        return number

    days = form.get("expires_days")
    expires_at = None
    if days not in (None, ""):
        span = float(str(days))
        if not 0 < span < 36500:
            raise ValueError("expires_days must be more than 0 and under 100 years")
        expires_at = time.time() + span * 86400
    models = tuple(p.strip() for p in str(form.get("models") or "").split(",") if p.strip())[:64]
    return KeyLimits(count("rpm"), count("concurrency"), count("tokens_per_day"), models, expires_at)
