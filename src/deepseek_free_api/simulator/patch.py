"""The JSON-patch frames of stream generations 2 and 3 (PROTOCOL.md §5.3), both ways.

The simulator builds every frame with explicit ``p`` and ``o`` and drops the ones equal to the
previous frame's when writing (sticky ``p``/``o``, as upstream does). It also applies its own
frames to a response tree: the tree is what ``history_messages`` shows and what a ``continue``
stream starts from, so the snapshot is exactly what the earlier frames said.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Frame = dict[str, Any]


@dataclass(slots=True)
class Sticky:
    """The path and op a frame without ``p`` / ``o`` inherits."""

    path: str = ""
    op: str = "SET"


def frame(path: str, op: str, value: Any) -> Frame:
    """An explicit top-level frame."""
    return {"p": path, "o": op, "v": value}


def compress(explicit: Mapping[str, Any], sticky: Sticky) -> Frame:
    """The wire form of ``explicit``: ``p`` and ``o`` left out when inherited."""
    out: Frame = {}
    path, op = explicit.get("p", sticky.path), explicit.get("o", sticky.op)
    if path != sticky.path:
        out["p"] = path
    if op != sticky.op:
        out["o"] = op
    out["v"] = explicit["v"]
    sticky.path, sticky.op = path, op
    return out


def apply(root: dict[str, Any], wire: Mapping[str, Any], sticky: Sticky) -> None:
    """Apply one wire frame to ``root`` (the state whose ``response`` key is the message)."""
    path, op = wire.get("p", sticky.path), wire.get("o", sticky.op)
    sticky.path, sticky.op = path, op
    _apply(root, path, op, wire["v"])


def _apply(root: dict[str, Any], path: str, op: str, value: Any) -> None:
    if op == "BATCH":
        inner = Sticky()
        for sub in value:
            sub_path, sub_op = sub.get("p", inner.path), sub.get("o", inner.op)
            inner.path, inner.op = sub_path, sub_op
            _apply(root, f"{path}/{sub_path}" if path else sub_path, sub_op, sub["v"])
        return
    if path == "":
        if op != "SET" or not isinstance(value, dict):
            raise ValueError("only a SET of an object may target the root")
        root.clear()
        root.update(deep_copy(value))
        return
    parent, key = _resolve(root, path)
    if op == "SET":
        parent[key] = deep_copy(value)
    elif op == "APPEND":
        current = parent[key]
        if isinstance(current, list):
            current.extend(deep_copy(value) if isinstance(value, list) else [deep_copy(value)])
        elif current is None:
            parent[key] = deep_copy(value)
        else:
            parent[key] = current + value
    else:
        raise ValueError(f"unknown op {op!r}")


def _resolve(root: dict[str, Any], path: str) -> tuple[Any, Any]:
    parts = path.split("/")
    node: Any = root
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last: Any = parts[-1]
    if isinstance(node, list):
        last = int(last)
        if last < 0:
            last += len(node)
    return node, last


def deep_copy(value: Any) -> Any:
    """A copy of nested dicts and lists."""
    if isinstance(value, dict):
        return {k: deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [deep_copy(v) for v in value]
    return value
