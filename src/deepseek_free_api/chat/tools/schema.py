"""Making a model's arguments fit the tool's JSON schema, and saying where they do not.

The model writes values as text, so ``"3"`` for an integer, ``"true"`` for a boolean or a JSON array
inside a string are common; they are converted when the schema says what the value should be.
Validation covers what clients rely on: ``type``, ``enum``/``const``, ``properties``/``required``,
``additionalProperties: false``, ``items``, ``anyOf``/``oneOf``/``allOf``, local ``$ref`` and
OpenAPI's ``nullable``. Other keywords (formats, lengths, ranges) are left to the client.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_MAX_REF_DEPTH = 32

Schema = Mapping[str, Any]


def conform(value: object, schema: Schema) -> tuple[object, list[str]]:
    """``value`` converted towards ``schema``, and the ways it still does not fit (empty: it fits)."""
    errors: list[str] = []
    return _conform(value, schema, schema, "", errors, 0), errors


def _conform(value: object, schema: Schema, root: Schema, path: str, errors: list[str], depth: int) -> object:
    if not isinstance(schema, Mapping):
        return value
    if "$ref" in schema:
        target = _resolve(root, schema["$ref"])
        if target is None or depth > _MAX_REF_DEPTH:
            return value  # a reference we cannot follow constrains nothing we can check
        return _conform(value, target, root, path, errors, depth + 1)
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            value = _first_fitting(value, schema[key], root, path, errors, depth)
    if isinstance(schema.get("allOf"), list):
        for part in schema["allOf"]:
            value = _conform(value, part, root, path, errors, depth + 1)
    types = _types(schema)
    if types:
        value = _typed(value, types, schema, root, path, errors, depth)
    if "enum" in schema and isinstance(schema["enum"], list) and value not in schema["enum"]:
        errors.append(f"{_where(path)}must be one of {json.dumps(schema['enum'], ensure_ascii=False)}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{_where(path)}must be {json.dumps(schema['const'], ensure_ascii=False)}")
    return value


def _first_fitting(
    value: object, options: list[Any], root: Schema, path: str, errors: list[str], depth: int
) -> object:
    first: list[str] | None = None
    for option in options:
        attempt: list[str] = []
        converted = _conform(value, option, root, path, attempt, depth + 1)
        if not attempt:
            return converted
        first = attempt if first is None else first
    errors.extend(first or [])
    return value


def _types(schema: Schema) -> list[str]:
    declared = schema.get("type")
    types = [declared] if isinstance(declared, str) else list(declared or [])
    if not types and ("properties" in schema or "required" in schema):
        types = ["object"]
    if types and schema.get("nullable") is True:
        types.append("null")
    return [t for t in types if isinstance(t, str)]


def _typed(
    value: object,
    types: list[str],
    schema: Schema,
    root: Schema,
    path: str,
    errors: list[str],
    depth: int,
) -> object:
    # A value that already has one of the types stays as it is; otherwise try converting in order.
    for kind in types:
        if _is(value, kind):
            return _inside(value, kind, schema, root, path, errors, depth)
    for kind in types:
        converted, ok = _convert(value, kind)
        if ok:
            return _inside(converted, kind, schema, root, path, errors, depth)
    errors.append(f"{_where(path)}expected {' or '.join(types)}, got {_describe(value)}")
    return value


def _inside(
    value: object, kind: str, schema: Schema, root: Schema, path: str, errors: list[str], depth: int
) -> object:
    if kind == "object" and isinstance(value, dict):
        return _object(value, schema, root, path, errors, depth)
    if kind == "array" and isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            return [
                _conform(item, items, root, f"{path}[{i}]", errors, depth + 1) for i, item in enumerate(value)
            ]
    return value


def _object(
    value: dict[str, Any], schema: Schema, root: Schema, path: str, errors: list[str], depth: int
) -> dict[str, Any]:
    properties = schema.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    extra = schema.get("additionalProperties", True)
    out: dict[str, Any] = {}
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        if key in properties:
            out[key] = _conform(item, properties[key], root, where, errors, depth + 1)
        elif extra is False:
            errors.append(f"{_where(where)}is not a known parameter")
            out[key] = item
        elif isinstance(extra, Mapping):
            out[key] = _conform(item, extra, root, where, errors, depth + 1)
        else:
            out[key] = item
    for key in schema.get("required") or ():
        if key not in out:
            errors.append(f"{_where(f'{path}.{key}' if path else key)}is required")
    return out


def _is(value: object, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return {
        "string": str,
        "boolean": bool,
        "object": dict,
        "array": list,
        "null": type(None),
    }.get(kind, object) is type(value) or kind not in _KINDS


_KINDS = frozenset({"string", "integer", "number", "boolean", "object", "array", "null"})


def _convert(value: object, kind: str) -> tuple[object, bool]:
    """``value`` as ``kind`` when the text or number says so unambiguously."""
    text = value.strip() if isinstance(value, str) else None
    if kind == "integer":
        if text is not None and _INTEGER.fullmatch(text):
            return int(text), True
        if isinstance(value, float) and value.is_integer():
            return int(value), True
        if text is not None and _NUMBER.fullmatch(text) and float(text).is_integer():
            return int(float(text)), True
    elif kind == "number":
        if text is not None and _NUMBER.fullmatch(text):
            return (int(text) if _INTEGER.fullmatch(text) else float(text)), True
    elif kind == "boolean":
        if text is not None and text.lower() in ("true", "false"):
            return text.lower() == "true", True
    elif kind == "null":
        if text is not None and text.lower() in ("null", "none", ""):
            return None, True
    elif kind == "string":
        if isinstance(value, bool | int | float) or value is None:
            return json.dumps(value), True
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False), True
    elif kind in ("object", "array") and text is not None:
        try:
            parsed = json.loads(text)
        except ValueError:
            return value, False
        return parsed, _is(parsed, kind)
    return value, False


def _resolve(root: Schema, ref: object) -> Schema | None:
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    node: Any = root
    for part in ref[1:].split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, Mapping) else None


def _where(path: str) -> str:
    return f"{path}: " if path else ""


def _describe(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
