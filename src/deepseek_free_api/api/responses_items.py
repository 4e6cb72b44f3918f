"""A Responses request's ``input`` as the items ``GET /v1/responses/{id}/input_items`` lists.

OpenAI lists the input items of a response with ids (``msg_…``), message content as typed parts,
newest first unless ``order=asc``, paged by ``after``/``before`` and ``limit`` (1-100, default 20).
The items are kept with the stored response as JSON; inline file and image bytes (data URLs,
``file_data``) are not kept (a stored response holds no attachment bytes), their place says so.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from deepseek_free_api.errors import RequestError
from deepseek_free_api.json_text import MAX_NESTING, nested_deeper_than

_INLINE = ("image_url", "file_data", "file_url")
_PART_TYPES = {"user": "input_text", "system": "input_text", "developer": "input_text"}


def input_items(raw: object) -> bytes:
    """The request's ``input`` (text or items) as the JSON list of items to store."""
    if isinstance(raw, str):
        items: list[Any] = [{"type": "message", "role": "user", "content": raw}]
    else:
        items = list(raw) if isinstance(raw, list) else []
    return orjson.dumps(
        [_item(item, f"input[{i}]") for i, item in enumerate(items) if isinstance(item, dict)]
    )


def _item(item: dict[str, Any], param: str) -> dict[str, Any]:
    if nested_deeper_than(item):  # the walk below recurses per level (a 2 KB body was a 500)
        raise RequestError(f"'{param}' nests deeper than {MAX_NESTING} levels", param=param)
    out = {key: _without_bytes(value) for key, value in item.items()}
    if "type" not in out and "role" in out:
        out["type"] = "message"
    if out.get("type") == "message":
        content = out.get("content")
        if isinstance(content, str):
            kind = _PART_TYPES.get(str(out.get("role")), "output_text")
            out["content"] = [{"type": kind, "text": content}]
        out.setdefault("status", "completed")
        out.setdefault("id", f"msg_{uuid.uuid4().hex}")
    else:
        out.setdefault("id", out.get("call_id") or f"item_{uuid.uuid4().hex}")
    return out


def _without_bytes(value: Any) -> Any:
    if isinstance(value, list):
        return [_without_bytes(item) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: _without_bytes(item) for key, item in value.items()}
    for key in _INLINE:
        text = out.get(key)
        if isinstance(text, str) and (key == "file_data" or text.startswith("data:")):
            header = text[: text.find(",") + 1] if text.startswith("data:") else ""
            out[key] = f"{header}<{len(text)} characters not kept>"
    return out


def page(
    stored: bytes, *, after: str | None, before: str | None, limit: str | None, order: str | None
) -> dict[str, Any]:
    """One page of the stored items, as OpenAI's list object."""
    items: list[dict[str, Any]] = orjson.loads(stored)
    if order not in (None, "asc", "desc"):
        raise RequestError("'order' must be 'asc' or 'desc'", param="order")
    count = _limit(limit)
    if order != "asc":
        items.reverse()
    ids = [item.get("id") for item in items]
    start, end = 0, len(items)
    for cursor, name in ((after, "after"), (before, "before")):
        if cursor is not None and cursor not in ids:
            raise RequestError(f"No input item with id '{cursor}' in this response", param=name)
    if after is not None:
        start = ids.index(after) + 1
    if before is not None:
        end = ids.index(before)
    chosen = items[start:end][:count]
    return {
        "object": "list",
        "data": chosen,
        "first_id": chosen[0]["id"] if chosen else None,
        "last_id": chosen[-1]["id"] if chosen else None,
        "has_more": len(items[start:end]) > count,
    }


def _limit(value: str | None) -> int:
    if value is None:
        return 20
    if not value.isdigit() or not 1 <= int(value) <= 100:
        raise RequestError("'limit' must be an integer from 1 to 100", param="limit")
    return int(value)
