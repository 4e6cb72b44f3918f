"""The smallest JSON value a JSON schema accepts, as a simulated model's structured answer.

Scripted replies use it for ``{json}`` (the schema of a structured-output request) and for the
required tool parameters a script does not spell out. "Smallest" means: only required properties,
the first ``enum`` value or the ``const``, the first ``anyOf``/``oneOf`` option, ``allOf`` parts
merged, and a typed placeholder otherwise (``"example"``, ``0``, ``false``, ``[]``), moved into
``minimum``/``maximum``, ``minLength``/``maxLength``, ``minItems`` and well-known string ``format``s
so that clients validating with pydantic accept it too. Patterns, ``multipleOf`` and
``uniqueItems`` are not honoured.

The work is bounded whatever the schema: at most ``MAX_NODES`` values and ``MAX_DEPTH`` levels
(a recursive ``$ref`` ends in ``null`` there), arrays of at most ``MAX_ITEMS`` items, strings of at
most ``MAX_CHARS`` characters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

MAX_NODES: Final = 500
MAX_DEPTH: Final = 12
MAX_ITEMS: Final = 16
MAX_CHARS: Final = 1000

_TEXT: Final = "example"
_FORMATS: Final = {
    "date": "2026-01-01",
    "date-time": "2026-01-01T00:00:00Z",
    "time": "00:00:00Z",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "hostname": "example.com",
}


def minimal_instance(schema: object, root: object = None) -> object:
    """A small value valid against ``schema`` (``root`` resolves local ``$ref``s; default the schema)."""
    return _Builder(root if root is not None else schema).build(schema, 0)


class _Builder:
    def __init__(self, root: object) -> None:
        self.root = root
        self.nodes = 0

    def build(self, schema: object, depth: int) -> object:
        self.nodes += 1
        if not isinstance(schema, Mapping) or depth > MAX_DEPTH or self.nodes > MAX_NODES:
            return None
        if isinstance(schema.get("$ref"), str):
            return self.build(_resolve(self.root, schema["$ref"]), depth + 1)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                return self.build(options[0], depth + 1)
        if isinstance(schema.get("allOf"), list):
            return self.build(self._merged(schema), depth + 1)
        kind = _kind(schema)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            count = min(_int(schema.get("minItems"), 0), MAX_ITEMS)
            items = schema.get("items")
            return [self.build(items if isinstance(items, Mapping) else {}, depth + 1) for _ in range(count)]
        if kind == "string":
            return _string(schema)
        if kind in ("integer", "number"):
            return _number(schema, kind == "integer")
        if kind == "boolean":
            return False
        return None  # "null", or a schema that accepts anything

    def _object(self, schema: Mapping[str, Any], depth: int) -> dict[str, object]:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        names = [name for name in schema.get("required") or () if isinstance(name, str)]
        wanted = _int(schema.get("minProperties"), 0)
        names += [name for name in properties if name not in names][: max(wanted - len(names), 0)]
        return {name: self.build(properties.get(name, {}), depth + 1) for name in names}

    def _merged(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """``allOf`` parts folded into one schema: properties and required lists joined."""
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        properties: dict[str, Any] = dict(merged.get("properties") or {})
        required: list[Any] = list(merged.get("required") or ())
        for part in schema["allOf"][:MAX_ITEMS]:
            if isinstance(part, Mapping) and isinstance(part.get("$ref"), str):
                part = _resolve(self.root, part["$ref"])
            if not isinstance(part, Mapping):
                continue
            properties.update(part.get("properties") or {})
            required += [name for name in part.get("required") or () if name not in required]
            for key, value in part.items():
                merged.setdefault(key, value)
        merged.update(properties=properties, required=required)
        merged.pop("allOf", None)
        return merged


def _kind(schema: Mapping[str, Any]) -> str | None:
    declared = schema.get("type")
    kinds = [declared] if isinstance(declared, str) else [k for k in declared or () if isinstance(k, str)]
    usable = [k for k in kinds if k != "null"]
    if usable:
        return usable[0]
    if kinds:
        return kinds[0]
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return None


def _string(schema: Mapping[str, Any]) -> str:
    text = _FORMATS.get(str(schema.get("format")), _TEXT)
    shortest = min(_int(schema.get("minLength"), 0), MAX_CHARS)
    if len(text) < shortest:
        text = (text * (shortest // len(text) + 1))[:shortest]
    longest = schema.get("maxLength")
    if isinstance(longest, int) and not isinstance(longest, bool) and 0 <= longest < len(text):
        text = text[:longest]
    return text


def _number(schema: Mapping[str, Any], integer: bool) -> int | float:
    """Zero, moved into the schema's range (exclusive bounds by one)."""
    bounds = [schema.get(key) for key in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")]
    low, low_open, high, high_open = (b if _is_number(b) else None for b in bounds)
    lows = [v for v in (low, low_open + 1 if low_open is not None else None) if v is not None]
    highs = [v for v in (high, high_open - 1 if high_open is not None else None) if v is not None]
    value: float = max([0, *lows]) if lows else 0
    if highs and value > min(highs):
        value = min(highs)
    if not integer:
        return value
    ceiling = math.ceil(value)
    return ceiling if not highs or ceiling <= min(highs) else math.floor(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


def _resolve(root: object, ref: str) -> object:
    """A local ``#/…`` reference inside ``root``; None when it leads nowhere.

    The same walk as ``chat.tools.schema``'s on purpose: the simulator imports nothing from the
    server it stands in for, so that a fault in the server's code cannot hide in both.
    """
    if not ref.startswith("#"):
        return None
    node = root
    for part in ref[1:].split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node
