"""The JSON patch engine behind DeepSeek's streams of generations 2 and 3 (PROTOCOL.md §5.3).

Each frame is ``{"p": path, "o": op, "v": value}``. ``p`` and ``o`` are sticky (a frame without
them reuses the previous frame's), the initial op is ``SET`` with the empty path (so the first
``{"v":{"response":{…}}}`` is a whole snapshot), and ``BATCH`` applies a list of sub-frames whose
paths are relative to its own path, with a fresh sticky state. This mirrors the web front-end's
delta parser (transcribed in NIY's reference, 2026-05) and every capture read for PROTOCOL.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SET = "SET"
APPEND = "APPEND"
BATCH = "BATCH"
_OPS = frozenset({SET, APPEND, BATCH})


class PatchError(ValueError):
    """A frame that cannot be applied to the state (bad path, op or value type)."""


class PatchState:
    """A JSON state tree plus the sticky path/op of the frames applied so far."""

    def __init__(self) -> None:
        self.root: Any = {}
        self._path = ""
        self._op = SET

    def apply(self, frame: Mapping[str, Any]) -> None:
        """Apply one top-level frame; raises ``PatchError`` when it makes no sense.

        The state takes the frame's values as they are (no copy): pass freshly parsed JSON.
        """
        path, op = _sticky(frame, self._path, self._op)
        self._path, self._op = path, op
        self._apply(_split(path), op, frame["v"])

    def get(self, path: str) -> Any:
        """The value at ``path`` (``None`` when it does not exist); for tests and callers."""
        node = self.root
        for key in _split(path):
            try:
                node = _child(node, key)
            except PatchError:
                return None
        return node

    def _apply(self, keys: list[str], op: str, value: Any) -> None:
        if op == BATCH:
            self._batch(keys, value)
        elif op == SET:
            self._set(keys, value)
        else:
            self._append(keys, value)

    def _batch(self, prefix: list[str], frames: Any) -> None:
        if not isinstance(frames, list):
            raise PatchError("BATCH value is not a list")
        path, op = "", SET  # a batch starts with a fresh sticky state
        for frame in frames:
            if not isinstance(frame, Mapping):
                raise PatchError("BATCH item is not an object")
            path, op = _sticky(frame, path, op)
            self._apply(prefix + _split(path), op, frame["v"])

    def _set(self, keys: list[str], value: Any) -> None:
        if not keys:
            self.root = value
            return
        parent = self._container(keys[:-1])
        last = keys[-1]
        if isinstance(parent, list):
            index = _index(parent, last, allow_end=True)
            if index == len(parent):
                parent.append(value)
            else:
                parent[index] = value
        else:
            parent[last] = value

    def _append(self, keys: list[str], value: Any) -> None:
        if not keys:
            raise PatchError("APPEND needs a path")
        parent = self._container(keys[:-1])
        last = keys[-1]
        if isinstance(parent, list):
            index = _index(parent, last)
            parent[index] = _appended(parent[index], value)
        else:
            parent[last] = _appended(parent.get(last), value)

    def _container(self, keys: list[str]) -> dict[str, Any] | list[Any]:
        """Walk to the object or array that holds the target, creating missing objects."""
        if not isinstance(self.root, dict | list):
            self.root = {}
        node: dict[str, Any] | list[Any] = self.root
        for key in keys:
            if isinstance(node, dict):
                child = node.get(key)
                if child is None:
                    # Fields appear by SET on a missing path ("response/quasi_status").
                    child = node[key] = {}
            else:
                child = node[_index(node, key)]
            if not isinstance(child, dict | list):
                raise PatchError(f"path goes through a scalar at {key!r}")
            node = child
        return node


def _sticky(frame: Mapping[str, Any], path: str, op: str) -> tuple[str, str]:
    if "v" not in frame:
        raise PatchError("frame has no 'v'")
    new_path = frame.get("p", path)
    new_op = frame.get("o", op)
    if "o" not in frame and new_op == BATCH and not isinstance(frame["v"], list):
        # {"p":"response/status","v":"INCOMPLETE"} right after a response BATCH (PROTOCOL.md
        # §5.5 e3, 2026-09): an inherited BATCH cannot take a scalar; it is a SET.
        new_op = SET
    if not isinstance(new_path, str) or new_op not in _OPS:
        raise PatchError(f"bad path or op: {new_path!r} {new_op!r}")
    return new_path, new_op


def _split(path: str) -> list[str]:
    return [key for key in path.split("/") if key]


def _index(array: list[Any], key: str, *, allow_end: bool = False) -> int:
    """Array index from a path segment; negative counts from the end ("fragments/-1")."""
    try:
        index = int(key)
    except ValueError:
        raise PatchError(f"{key!r} is not an array index") from None
    if index < 0:
        index += len(array)
    limit = len(array) + (1 if allow_end else 0)
    if not 0 <= index < limit:
        raise PatchError(f"array index {key} out of range (length {len(array)})")
    return index


def _child(node: Any, key: str) -> Any:
    if isinstance(node, dict):
        if key not in node:
            raise PatchError(key)
        return node[key]
    if isinstance(node, list):
        return node[_index(node, key)]
    raise PatchError(key)


def _appended(current: Any, value: Any) -> Any:
    if current is None:
        return value
    if isinstance(current, str) and isinstance(value, str):
        return current + value
    if isinstance(current, list):
        # A list value extends (fragments arrive as one-element lists); anything else is pushed.
        if isinstance(value, list):
            current.extend(value)
        else:
            current.append(value)
        return current
    if isinstance(current, int | float) and isinstance(value, int | float) and not isinstance(value, bool):
        return current + value
    raise PatchError(f"cannot APPEND {type(value).__name__} to {type(current).__name__}")
