"""Reading JSON request bodies with a size limit.

A client that goes away while sending raises starlette's ``ClientDisconnect`` from here; the app
answers it with one debug line (``app.py``), since nobody is left to read an error.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from deepseek_free_api.api.state import core_of
from deepseek_free_api.errors import PayloadTooLargeError, RequestError


async def read_json(request: Request) -> dict[str, Any]:
    """The body as a JSON object; 413 past ``max_body_bytes``, 400 for anything but an object."""
    limit = core_of(request).max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"Request body is larger than the limit of {limit} bytes")
    received = bytearray()
    async for piece in request.stream():
        received += piece
        if len(received) > limit:
            raise PayloadTooLargeError(f"Request body is larger than the limit of {limit} bytes")
    try:
        body = orjson.loads(received)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"The request body is not valid JSON: {exc}", code="invalid_json") from exc
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object", code="invalid_json")
    return body
