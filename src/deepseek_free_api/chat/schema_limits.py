"""The limits a JSON schema in a request must keep, checked when the request is parsed.

Every answer is checked against the caller's schemas (``schema.conform``), so a schema is work the
caller orders. ``{"allOf": [{"$ref": "#"}, {"$ref": "#"}, {"$ref": "#"}]}`` is 60 bytes and, to a
validator that follows it, endless: it applies itself to the same value again and again. So a
schema is refused with a 400 naming the limit when

* it holds more than ``MAX_NODES`` JSON values, or is nested more than ``MAX_DEPTH`` levels;
* the subschemas that apply to the *same* value (a ``$ref``'s target, the members of ``allOf``,
  ``anyOf`` and ``oneOf``) lead back to where they started (such a schema says nothing but
  "apply me again"); follow each other more than ``MAX_CHAIN`` deep; or, counted along every
  path as a validator without memory would follow them, expand one subschema to more than
  ``MAX_EXPANSION`` applications (the combinator fan-out multiplied through ``$ref``).

Recursion through ``properties``, ``items`` or ``additionalProperties`` is fine (a tree of nodes):
each turn of it takes one level of the value. The walk is linear in the schema's size.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from deepseek_free_api.errors import RequestError

MAX_NODES = 10_000
MAX_DEPTH = 64
MAX_CHAIN = 32
MAX_EXPANSION = 10_000
_COMBINATORS = ("allOf", "anyOf", "oneOf")

Schema = Mapping[str, Any]


def check_schema(schema: Mapping[str, Any], param: str) -> None:
    """RequestError (400) naming ``param`` and the limit, if ``schema`` breaks one (see above)."""
    subschemas = _shape(schema, param)
    expansion: dict[int, tuple[int, int]] = {}  # id -> (applications, longest chain)
    for node in subschemas:
        if id(node) not in expansion:
            _expand(node, schema, expansion, param)


def _refused(param: str, what: str) -> RequestError:
    return RequestError(f"the JSON schema in '{param}' {what}", param=param, code="schema_too_complex")


def _shape(schema: Mapping[str, Any], param: str) -> list[Mapping[str, Any]]:
    """Every object in the schema, after checking its size and depth (iteratively: no recursion)."""
    objects: list[Mapping[str, Any]] = []
    pending: list[tuple[object, int]] = [(schema, 1)]
    count = 0
    while pending:
        node, depth = pending.pop()
        count += 1
        if count > MAX_NODES:
            raise _refused(param, f"has more than {MAX_NODES} values (the limit for one schema)")
        if depth > MAX_DEPTH:
            raise _refused(param, f"is nested more than {MAX_DEPTH} levels deep (the limit)")
        if isinstance(node, Mapping):
            objects.append(node)
            pending.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            pending.extend((child, depth + 1) for child in node)
    return objects


def _same_value(node: Mapping[str, Any], root: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The subschemas a validator applies to the same value as ``node`` (as ``schema.conform`` does)."""
    if "$ref" in node:  # conform follows the reference and nothing else of the object
        target = resolve_ref(root, node["$ref"])
        if target is not None:
            yield target
        return
    for key in _COMBINATORS:
        members = node.get(key)
        if isinstance(members, list):
            yield from (member for member in members if isinstance(member, Mapping))


def _expand(
    start: Mapping[str, Any],
    root: Mapping[str, Any],
    done: dict[int, tuple[int, int]],
    param: str,
) -> None:
    """Applications and chain length of ``start`` and what it reaches (depth-first, iterative)."""
    on_path: set[int] = set()
    stack: list[tuple[Mapping[str, Any], Iterator[Mapping[str, Any]]]] = [(start, _same_value(start, root))]
    on_path.add(id(start))
    while stack:
        node, children = stack[-1]
        child = next(children, None)
        if child is not None:
            if id(child) in on_path:
                raise _refused(
                    param,
                    "refers back to itself through $ref/allOf/anyOf/oneOf without descending into the "
                    "value, so it could never be checked",
                )
            if id(child) not in done:
                on_path.add(id(child))
                stack.append((child, _same_value(child, root)))
            continue
        stack.pop()
        on_path.discard(id(node))
        reached = [done[id(c)] for c in _same_value(node, root)]
        applications = min(1 + sum(a for a, _ in reached), MAX_EXPANSION + 1)
        chain = 1 + max((c for _, c in reached), default=0)
        if applications > MAX_EXPANSION:
            raise _refused(
                param,
                f"expands to more than {MAX_EXPANSION} subschema applications for one value through "
                "$ref/allOf/anyOf/oneOf (the limit)",
            )
        if chain > MAX_CHAIN:
            raise _refused(
                param, f"chains $ref/allOf/anyOf/oneOf more than {MAX_CHAIN} deep for one value (the limit)"
            )
        done[id(node)] = (applications, chain)


def resolve_ref(root: Schema, ref: object) -> Schema | None:
    """The subschema a local ``$ref`` (``#/$defs/x``) points at; None for any other reference."""
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
