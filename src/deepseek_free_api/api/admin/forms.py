"""Request bodies of the admin page: a login form or a small JSON object, bounded in size."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from starlette.exceptions import HTTPException

# A token may be up to 4096 characters (settings.MAX_TOKEN_LENGTH), with a password and a proxy.
MAX_BODY_BYTES = 16384


async def read_body(request: Request) -> bytes:
    """The body, or a 413 once it passes ``MAX_BODY_BYTES``."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413, "The form is too large")
    return body


async def read_form(request: Request) -> dict[str, str]:
    """A URL-encoded form's fields (the first value of each)."""
    fields = parse_qs((await read_body(request)).decode(errors="replace"), max_num_fields=8)
    return {name: values[0] for name, values in fields.items()}


async def read_json(request: Request) -> dict[str, Any]:
    """A JSON object, or a 400."""
    try:
        value = json.loads(await read_body(request))
    except ValueError:
        raise HTTPException(400, "Send a JSON object") from None
    if not isinstance(value, dict):
        raise HTTPException(400, "Send a JSON object")
    return value
