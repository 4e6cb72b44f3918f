"""DeepSeek's JSON envelope and its request validation (PROTOCOL.md §1.2).

Every non-stream answer is HTTP 200 ``{code, msg, data: {biz_code, biz_msg, biz_data}}``; a body
that misses a field is HTTP 422 ``{"detail": [{"loc": ["body", field], …}]}`` as a FastAPI app
answers (NIY reference, 2026-05).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response serialised compactly (non-ASCII kept as UTF-8, as upstream does)."""
    return Response(orjson.dumps(payload), status_code=status, headers=headers, media_type="application/json")


def envelope(biz_data: Any = None, biz_code: int = 0, biz_msg: str = "") -> dict[str, Any]:
    """The success-level envelope (``code`` 0) with business fields."""
    return {"code": 0, "msg": "", "data": {"biz_code": biz_code, "biz_msg": biz_msg, "biz_data": biz_data}}


def ok(biz_data: Any = None) -> Response:
    """``code`` 0, ``biz_code`` 0."""
    return json_response(envelope(biz_data))


def biz_error(biz_code: int, biz_msg: str, biz_data: Any = None) -> Response:
    """``code`` 0 with a business error."""
    return json_response(envelope(biz_data, biz_code, biz_msg))


def code_error(code: int, msg: str) -> Response:
    """A transport/auth-level error: ``data`` is null."""
    return json_response({"code": code, "msg": msg, "data": None})


def invalid_token() -> Response:
    """40003 (DFA ``checkResult``; NIY ref, 2025-04 → 2026-05)."""
    return code_error(40003, "Authorization Failed (invalid token)")


def invalid_pow() -> Response:
    """40301 (NIY ``completions.rs`` ``parse_json_error``, 2026-05)."""
    return code_error(40301, "INVALID_POW_RESPONSE")


class BodyInvalid(Exception):
    """The request body fails validation; ``detail`` is the 422 body's list."""

    def __init__(self, detail: list[dict[str, Any]]) -> None:
        super().__init__("invalid body")
        self.detail = detail

    def response(self) -> Response:
        """The HTTP 422 answer."""
        return json_response({"detail": self.detail}, status=422)


# Field kinds and the pydantic error type a wrong value gets.
_KINDS: dict[str, tuple[tuple[type, ...], bool, str]] = {
    "str": ((str,), False, "string_type"),
    "str?": ((str,), True, "string_type"),
    "bool": ((bool,), False, "bool_type"),
    "bool?": ((bool,), True, "bool_type"),
    "int?": ((int,), True, "int_type"),
    "int": ((int,), False, "int_type"),
    "list?": ((list,), True, "list_type"),
}


async def read_json(request: Request, body: bytes) -> dict[str, Any]:
    """The JSON object body; non-JSON content types and non-objects fail as FastAPI fails them."""
    content_type = request.headers.get("content-type", "")
    value: Any = None
    if content_type.split(";")[0].strip().lower() == "application/json":
        try:
            value = orjson.loads(body) if body else None
        except orjson.JSONDecodeError as exc:
            raise BodyInvalid(
                [{"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error", "input": {}}]
            ) from exc
    if not isinstance(value, dict):
        message = "Input should be a valid dictionary or object to extract fields from"
        raise BodyInvalid([{"type": "model_attributes_type", "loc": ["body"], "msg": message, "input": None}])
    return value


def check_fields(
    body: Mapping[str, Any], required: Mapping[str, str], optional: Mapping[str, str] | None = None
) -> None:
    """Raise BodyInvalid listing every missing or mistyped field."""
    detail: list[dict[str, Any]] = []
    for name, kind in [*required.items(), *(optional or {}).items()]:
        types, nullable, error = _KINDS[kind]
        if name not in body:
            if name in required:
                detail.append(
                    {"type": "missing", "loc": ["body", name], "msg": "Field required", "input": None}
                )
            continue
        value = body[name]
        wrong = not isinstance(value, types) or (bool not in types and isinstance(value, bool))
        if value is None and nullable:
            wrong = False
        if wrong:
            detail.append(
                {"type": error, "loc": ["body", name], "msg": f"Input should be {kind}", "input": value}
            )
    if detail:
        raise BodyInvalid(detail)
