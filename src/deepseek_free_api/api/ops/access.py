"""One log line and the request metrics per HTTP request, written when its answer has ended.

``AccessLog`` replaces uvicorn's access line (``serve`` turns that off). The line keeps uvicorn's
``client - "METHOD /path HTTP/1.1" status`` start and adds what the request came to::

    127.0.0.1:50412 - "POST /v1/chat/completions HTTP/1.1" 404 route=/v1/chat/completions
    dialect=openai model=- key=key-1f0c2a9e account=- ttft_ms=- total_ms=2.1 error=model_not_found
    reason="The model 'gpt-9' does not exist: …"

(one line in the log). With ``--log-format json`` the same fields are keys of the JSON object.
Keys and tokens never appear: the caller is a label (``api.ops.labels``), the account id is cut
short, and the query string, which no route of ours reads, is left out.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deepseek_free_api.api.auth import presented_credential
from deepseek_free_api.api.errors import error_code, shorten
from deepseek_free_api.api.ops.labels import NONE, KeyLabels, account_label, dialect_of
from deepseek_free_api.api.ops.metrics import Metrics
from deepseek_free_api.api.ops.record import RequestRecord, current_request

log = logging.getLogger("deepseek_free_api.access")

UNMATCHED = "unmatched"  # the route label of a path no route serves (never the path itself)
CLIENT_CLOSED = 499  # nginx's "client closed request": the client left before any answer
_REASON_LIMIT = 300
_ERROR_BODY_LIMIT = 8192
_FORMAT = '%s - "%s %s HTTP/%s" %d route=%s dialect=%s model=%s key=%s account=%s ttft_ms=%s total_ms=%.1f'


class AccessLog:
    """ASGI middleware: the request's ``RequestRecord``, then its log line and metrics."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, keys: KeyLabels) -> None:
        self.app = app
        self._metrics = metrics
        self._keys = keys
        self._dialects: dict[str, str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record = RequestRecord(time.perf_counter())
        token = current_request.set(record)
        status = 0
        body = b""

        async def noting_send(message: Message) -> None:
            nonlocal status, body
            if message["type"] == "http.response.start":
                status = message["status"]
            elif status >= 400 and not body:  # an error's body says why; successes are not read
                body = message.get("body", b"")[:_ERROR_BODY_LIMIT]
            await send(message)

        crashed: BaseException | None = None
        try:
            await self.app(scope, receive, noting_send)
        except BaseException as exc:
            crashed = exc
            raise
        finally:
            current_request.reset(token)
            self._finish(scope, record, status, body, crashed)

    def _finish(
        self, scope: Scope, record: RequestRecord, status: int, body: bytes, crashed: BaseException | None
    ) -> None:
        ended = time.perf_counter()
        if not status:
            status = 500 if crashed is not None else CLIENT_CLOSED
        route_obj = scope.get("route")
        route = getattr(route_obj, "path", None) or UNMATCHED
        dialect = self._dialects.get(route)
        if dialect is None:
            dialect = self._dialects[route] = dialect_of(route)
        key = self._keys.label(presented_credential(Request(scope)))
        total = ended - record.started
        metrics = self._metrics
        metrics.request(route, dialect, record.model, key, status, total)
        ttft = None if record.first_event is None else record.first_event - record.started
        if ttft is not None:
            metrics.first_token(dialect, ttft)
        if record.usage is not None:
            metrics.tokens(key, record.model, record.usage)
        level = logging.WARNING if status >= 500 else logging.INFO
        if not log.isEnabledFor(level):
            return
        account = NONE if record.account is None else account_label(record.account)
        client = scope.get("client")
        fields: dict[str, Any] = {
            "client": f"{client[0]}:{client[1]}" if client else NONE,
            "method": _escaped(scope["method"], 16),
            "path": _escaped(scope["path"], 200),
            "status": status,
            "route": route,
            "dialect": dialect,
            "model": record.model,
            "key": key,
            "account": account,
            "ttft_ms": None if ttft is None else round(ttft * 1000, 1),
            "total_ms": round(total * 1000, 1),
        }
        text = _FORMAT
        args: list[Any] = [
            fields["client"],
            fields["method"],
            fields["path"],
            scope.get("http_version", "1.1"),
            status,
            route,
            dialect,
            record.model,
            key,
            account,
            NONE if ttft is None else f"{ttft * 1000:.1f}",
            total * 1000,
        ]
        if status >= 400 or record.error is not None:
            code, reason = _why(record, body, crashed)
            fields["error"], fields["reason"] = code, reason
            text += " error=%s reason=%s"
            args += [code, orjson.dumps(reason).decode()]
        log.log(level, text, *args, extra={"fields": fields})


def _why(record: RequestRecord, body: bytes, crashed: BaseException | None) -> tuple[str, str]:
    """The error code and reason: the error noted on the way, else the error body, else the crash."""
    if record.error is not None:
        return error_code(record.error), shorten(record.error.message, _REASON_LIMIT)
    if crashed is not None:
        return "server_error", type(crashed).__name__
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return NONE, NONE
    detail = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(detail, dict):
        return NONE, NONE
    code = detail.get("code") or detail.get("type") or NONE
    message = detail.get("message")
    reason = shorten(message, _REASON_LIMIT) if isinstance(message, str) else NONE
    return _escaped(str(code), 64), reason


def _escaped(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` with control characters and quotes escaped (no forged log lines)."""
    text = shorten(value, limit)
    if text.isprintable() and '"' not in text:
        return text
    return orjson.dumps(text).decode()[1:-1]
