"""JSON from callers and from the model, with a bound on nesting.

Python's parsers and every walk over a parsed value recurse once per level, so JSON nested a few
thousand levels deep (a 10 KB string) raised RecursionError wherever it was read: a 500 with a
traceback. JSON inside strings (tool-call arguments in a history, what the model writes) is read
through here instead: deeper than ``MAX_NESTING`` levels is an ordinary ``ValueError``, so the rest
of the code only ever meets values it can walk. (Request bodies are parsed by orjson, which stops
at 1,024 levels; what walks them recursively checks its own depth, e.g. ``api.responses_items``.)
"""

from __future__ import annotations

import json
from typing import Any

# Far more than any real request needs (a tool schema may nest 64 levels inside a body a few
# levels deep), far less than Python's recursion limit (1,000) and orjson's (254 when writing).
MAX_NESTING = 100


class JsonTooDeepError(ValueError):
    """The JSON nests deeper than ``MAX_NESTING`` levels (or than the parser follows)."""

    def __init__(self) -> None:
        super().__init__(f"it nests deeper than {MAX_NESTING} levels")


def nested_deeper_than(value: object, limit: int = MAX_NESTING) -> bool:
    """Whether ``value`` has more than ``limit`` levels of lists and objects (no recursion)."""
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def parse_json(text: str | bytes, **options: Any) -> Any:
    """``json.loads(text, **options)``; JsonTooDeepError when it nests too deep."""
    try:
        value = json.loads(text, **options)
    except RecursionError as exc:
        raise JsonTooDeepError() from exc
    if nested_deeper_than(value):
        raise JsonTooDeepError()
    return value
