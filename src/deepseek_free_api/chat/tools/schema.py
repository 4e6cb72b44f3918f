"""Making a model's arguments fit the tool's JSON schema, and saying where they do not.

The model writes values as text, so ``"3"`` for an integer, ``"true"`` for a boolean or a JSON array
inside a string are common; they are converted when the schema says what the value should be.
Validation covers what clients rely on: ``type``, ``enum``/``const``, ``properties``/``required``,
``additionalProperties: false``, ``items``, ``anyOf``/``oneOf``/``allOf``, local ``$ref`` and
OpenAPI's ``nullable``. Other keywords (formats, lengths, ranges) are left to the client.

The work is bounded whatever the schema and the value: ``schema_limits`` refused the pathological
shapes when the request was parsed; here each (subschema, place in the value, value) met through
``$ref``/``allOf``/``anyOf``/``oneOf`` is worked out once, and ``MAX_STEPS``, ``MAX_NESTING`` and an
optional time limit end the rest with an error saying the value could not be checked.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

from deepseek_free_api.chat.schema_limits import resolve_ref
from deepseek_free_api.json_text import parse_json

_INTEGER = re.compile(r"[+-]?\d+")
# No two ways to match a digit, so a long run of digits before a stray character fails in linear
# time (``\d+\.?\d*`` backtracked quadratically: 5 s for 16,000 digits).
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_TEXT_PER_STEP = 256  # characters of text parsed or written per step of the budget
# The most work one value may cost: steps are subschemas applied, members compared, text read (about
# 1-5 microseconds each: 0.1-0.5 s in all), levels are nested applications (a few Python frames each).
MAX_STEPS = 100_000
MAX_NESTING = 128
MAX_ERRORS = 100  # reasons kept per subschema applied: enough to say what is wrong
_CLOCK_EVERY = 1024  # steps between two looks at the clock, when there is a time limit
_SHOWN = 60  # characters of a value quoted in an error
_ENCODER = json.JSONEncoder(ensure_ascii=False)

Schema = Mapping[str, Any]


def conform(
    value: object, schema: Schema, *, time_limit_s: float | None = None, show_values: bool = True
) -> tuple[object, list[str]]:
    """``value`` converted towards ``schema``, and the ways it still does not fit (empty: it fits).

    Past ``MAX_STEPS`` steps, ``MAX_NESTING`` levels or ``time_limit_s`` the value is not checked
    further: it comes back unconverted with one error saying so. ``show_values=False`` names a wrong
    value's type instead of quoting it (tool arguments: the reasons are logged).
    """
    deadline = None if time_limit_s is None else time.monotonic() + time_limit_s
    errors: list[str] = []
    try:
        return _Check(schema, deadline, show_values).shared(value, schema, "", errors, 0), errors
    except _TooComplex as exc:
        return value, [str(exc)]


class _TooComplex(Exception):
    """The budget ran out; the message says which one."""


class _Check:
    """One value checked against one schema: its budget and what was already worked out."""

    def __init__(self, root: Schema, deadline: float | None, show_values: bool = True) -> None:
        self.root = root
        self.show_values = show_values
        self._deadline = deadline
        self._steps = 0
        # (subschema, place, value) -> (value, converted, errors), or None while being worked out. The
        # value is kept so that its id stays its own; a pair met again while being worked out is a
        # cycle through $ref/allOf/anyOf/oneOf, which constrains nothing more.
        self._done: dict[tuple[int, str, int], tuple[object, object, tuple[str, ...]] | None] = {}
        self._targets: dict[str, Schema | None] = {}  # each $ref resolved once: a pointer may be long

    def target(self, ref: object) -> Schema | None:
        """What ``$ref`` points at in the root schema (None: nothing this validator can follow)."""
        if not isinstance(ref, str):
            return None
        if ref not in self._targets:
            self._targets[ref] = resolve_ref(self.root, ref)
        return self._targets[ref]

    def step(self, count: int = 1) -> None:
        """Spend ``count`` steps of the budget."""
        before, self._steps = self._steps, self._steps + count
        if self._steps > MAX_STEPS:
            raise _TooComplex(
                f"the value is too large for its schema to be checked (more than {MAX_STEPS} steps)"
            )
        if self._deadline is not None and before // _CLOCK_EVERY != self._steps // _CLOCK_EVERY:
            if time.monotonic() > self._deadline:
                raise _TooComplex("the value could not be checked against its schema in the time allowed")

    def conform(self, value: object, schema: Schema, path: str, errors: list[str], depth: int) -> object:
        """``value`` at ``path`` against ``schema``, one step and one level further."""
        self.step()
        if depth > MAX_NESTING:
            raise _TooComplex(
                f"{_where(path)}the value is nested too deeply to be checked (more than {MAX_NESTING} levels)"
            )
        return _conform(value, schema, self, path, errors, depth)

    def shared(self, value: object, schema: Schema, path: str, errors: list[str], depth: int) -> object:
        """``conform`` for a subschema that applies to the same value ($ref, allOf, anyOf, oneOf).

        Only there can two applications meet (a subschema reached by properties or items has one
        parent), so only there is each (subschema, place, value) worked out once and reused.
        """
        key = (id(schema), path, id(value))
        if key in self._done:
            done = self._done[key]
            if done is None:
                return value  # a cycle: this application is already under way further up
        else:
            self._done[key] = None
            found: list[str] = []
            converted = self.conform(value, schema, path, found, depth)
            done = self._done[key] = (value, converted, tuple(found[:MAX_ERRORS]))
        errors.extend(done[2])
        return done[1]


def _conform(
    value: object, schema: Schema, check: _Check, path: str, errors: list[str], depth: int
) -> object:
    if not isinstance(schema, Mapping):
        return value
    if "$ref" in schema:
        target = check.target(schema["$ref"])
        if target is None:
            return value  # a reference we cannot follow constrains nothing we can check
        return check.shared(value, target, path, errors, depth + 1)
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            value = _first_fitting(value, schema[key], check, path, errors, depth)
    if isinstance(schema.get("allOf"), list):
        for part in schema["allOf"]:
            value = check.shared(value, part, path, errors, depth + 1)
    types = _types(schema)
    if types:
        value = _typed(value, types, schema, check, path, errors, depth)
    if "enum" in schema and isinstance(schema["enum"], list):
        check.step(len(schema["enum"]))
        if value not in schema["enum"]:
            errors.append(f"{_where(path)}must be one of {_quoted(schema['enum'])}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{_where(path)}must be {_quoted(schema['const'])}")
    return value


def _first_fitting(
    value: object, options: list[Any], check: _Check, path: str, errors: list[str], depth: int
) -> object:
    first: list[str] | None = None
    for option in options:
        attempt: list[str] = []
        converted = check.shared(value, option, path, attempt, depth + 1)
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
    check: _Check,
    path: str,
    errors: list[str],
    depth: int,
) -> object:
    # A value that already has one of the types stays as it is; otherwise try converting in order.
    check.step(len(types))
    for kind in types:
        if _is(value, kind):
            return _inside(value, kind, schema, check, path, errors, depth)
    for kind in types:
        if isinstance(value, str):
            check.step(len(value) // _TEXT_PER_STEP)  # stripped, matched, maybe parsed as JSON
        converted, ok = _convert(value, kind)
        if isinstance(converted, str) and converted is not value:
            check.step(len(converted) // _TEXT_PER_STEP)  # a number, object or array written out
        if ok:
            return _inside(converted, kind, schema, check, path, errors, depth)
    got = _describe(value) if check.show_values else _type_name(value)
    errors.append(f"{_where(path)}expected {' or '.join(types)}, got {got}")
    return value


def _inside(
    value: object, kind: str, schema: Schema, check: _Check, path: str, errors: list[str], depth: int
) -> object:
    if kind == "object" and isinstance(value, dict):
        return _object(value, schema, check, path, errors, depth)
    if kind == "array" and isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            out = [
                check.conform(item, items, f"{path}[{i}]", errors, depth + 1) for i, item in enumerate(value)
            ]
            return value if all(a is b for a, b in zip(out, value, strict=True)) else out
    return value


def _object(
    value: dict[str, Any], schema: Schema, check: _Check, path: str, errors: list[str], depth: int
) -> dict[str, Any]:
    properties = schema.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    extra = schema.get("additionalProperties", True)
    required = [key for key in schema.get("required") or () if isinstance(key, str)]
    check.step(len(value) + len(required))
    out: dict[str, Any] = {}
    for key, item in value.items():
        where = _joined(path, key)
        if key in properties:
            out[key] = check.conform(item, properties[key], where, errors, depth + 1)
        elif extra is False:
            errors.append(f"{_where(where)}is not a known parameter")
            out[key] = item
        elif isinstance(extra, Mapping):
            out[key] = check.conform(item, extra, where, errors, depth + 1)
        else:
            out[key] = item
    for key in required:
        if key not in out:
            errors.append(f"{_where(_joined(path, key))}is required")
    # Unchanged stays the same object: the next subschema applied to it finds what is worked out.
    return value if all(out[key] is item for key, item in value.items()) else out


def _joined(path: str, key: str) -> str:
    # A long key is shortened: paths are copied at every level below it (and name it only for people).
    shown = key if len(key) <= _SHOWN else key[: _SHOWN - 3] + "..."
    return f"{path}.{shown}" if path else shown


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
            return _int(text)
        if isinstance(value, float) and value.is_integer():
            return int(value), True
        if text is not None and _NUMBER.fullmatch(text) and float(text).is_integer():
            return int(float(text)), True
    elif kind == "number":
        if text is not None and _NUMBER.fullmatch(text):
            return _int(text) if _INTEGER.fullmatch(text) else (float(text), True)
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
            parsed = parse_json(text)
        except ValueError:  # not JSON, or nested too deep
            return value, False
        return parsed, _is(parsed, kind)
    return value, False


def _int(text: str) -> tuple[object, bool]:
    try:
        return int(text), True
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        return text, False


def _where(path: str) -> str:
    return f"{path}: " if path else ""


def _describe(value: object) -> str:
    return _clipped(repr(value[: _SHOWN + 1]) if isinstance(value, str) else _json_head(value))


def _type_name(value: object) -> str:
    kind = {str: "string", bool: "boolean", int: "integer", float: "number", dict: "object", list: "array"}
    return kind.get(type(value), "null")


def _quoted(value: object) -> str:
    return _clipped(_json_head(value, 4 * _SHOWN), 4 * _SHOWN)


def _json_head(value: object, size: int = _SHOWN) -> str:
    """The start of ``value`` as JSON: encoded lazily, so a large value costs no more than its head."""
    pieces: list[str] = []
    length = 0
    for piece in _ENCODER.iterencode(value):
        pieces.append(piece)
        length += len(piece)
        if length > size:
            break
    return "".join(pieces)


def _clipped(text: str, size: int = _SHOWN) -> str:
    return text if len(text) <= size else text[: size - 3] + "..."
