"""The JSON patch engine behind DeepSeek's streams of generations 2 and 3 (PROTOCOL.md §5.3).

Each frame is ``{"p": path, "o": op, "v": value}``. ``p`` and ``o`` are sticky (a frame without
them reuses the previous frame's), the initial op is ``SET`` with the empty path (so the first
``{"v":{"response":{…}}}`` is a whole snapshot), and ``BATCH`` applies a list of sub-frames whose
paths are relative to its own path, with a fresh sticky state. This mirrors the web front-end's
delta parser (transcribed in NIY's reference, 2026-05) and every capture read for PROTOCOL.md.

A string grown by ``APPEND`` is held as a ``TextBuffer`` (pieces, sealed into blocks), never
re-built: an answer arrives as ~100,000 frames of 1-20 characters, and ``current + value`` on a
``str`` copied the whole answer on every frame (1.6 MB took 16.5 s to decode). ``get()`` and
``plain()`` give plain values; the generation layers read ``tree`` and ask a buffer only for what
is new since an offset (``text_since``).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import chain
from typing import Any

SET = "SET"
APPEND = "APPEND"
BATCH = "BATCH"
_OPS = frozenset({SET, APPEND, BATCH})


class PatchError(ValueError):
    """A frame that cannot be applied to the state (bad path, op or value type)."""


class TextBuffer:
    """A string that only grows at its end: append in amortised O(1), read what is new in O(new).

    Appended pieces collect in a short tail that is sealed into one block once it holds
    ``_BLOCK_CHARS`` characters or ``_TAIL_PIECES`` pieces, so every character is copied a
    bounded number of times however long the text gets, and reading "since offset N" walks back
    from the end over the new pieces only.
    """

    __slots__ = ("_blocks", "_tail", "_tail_chars", "_length")
    _BLOCK_CHARS = 4096
    _TAIL_PIECES = 64

    def __init__(self, text: str = "") -> None:
        self._blocks: list[str] = [text] if text else []
        self._tail: list[str] = []
        self._tail_chars = 0
        self._length = len(text)

    def __len__(self) -> int:
        return self._length

    def __str__(self) -> str:
        text = "".join(chain(self._blocks, self._tail))
        self._blocks, self._tail, self._tail_chars = ([text] if text else []), [], 0
        return text

    def __repr__(self) -> str:
        return f"TextBuffer({self._length} chars)"

    def append(self, piece: str) -> None:
        """Add ``piece`` at the end."""
        if not piece:
            return
        self._tail.append(piece)
        self._tail_chars += len(piece)
        self._length += len(piece)
        if self._tail_chars >= self._BLOCK_CHARS or len(self._tail) >= self._TAIL_PIECES:
            self._blocks.append("".join(self._tail))
            self._tail = []
            self._tail_chars = 0

    def since(self, offset: int) -> str:
        """The text from character ``offset`` to the end."""
        remaining = self._length - max(offset, 0)
        if remaining <= 0:
            return ""
        parts: list[str] = []
        for piece in chain(reversed(self._tail), reversed(self._blocks)):
            if len(piece) >= remaining:
                parts.append(piece[len(piece) - remaining :])
                break
            parts.append(piece)
            remaining -= len(piece)
        parts.reverse()
        return "".join(parts)


def text_since(value: Any, offset: int) -> str | None:
    """``value[offset:]`` for a string field of the tree, ``None`` when ``value`` is no text."""
    if isinstance(value, str):
        return value[offset:]
    if isinstance(value, TextBuffer):
        return value.since(offset)
    return None


def plain(value: Any) -> Any:
    """A copy of a tree value with every ``TextBuffer`` as a ``str``."""
    if isinstance(value, TextBuffer):
        return str(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


class PatchState:
    """A JSON state tree plus the sticky path/op of the frames applied so far.

    ``tree`` is the live state, where strings grown by APPEND are ``TextBuffer``s; ``root`` and
    ``get()`` return plain copies.
    """

    def __init__(self) -> None:
        self.tree: Any = {}
        # Plain attributes, not properties: the decoder's fast path reads both on every answer
        # frame. Only ``apply`` sets them.
        self.path = ""  # the sticky path: where a frame without ``p`` acts
        self._op = SET
        # The text the last frame appended to, while a bare ``{"v": str}`` frame would append to
        # it too (no other frame came since: "fragments/-1" cannot have moved). Such a frame keeps
        # the sticky path and op (``APPEND``), so ``live_text.append(value)`` is all ``apply``
        # would do with it: the decoder's fast path for answer text does just that.
        self.live_text: TextBuffer | None = None

    @property
    def root(self) -> Any:
        """The whole state as plain JSON values (a copy: for tests and callers, not per frame)."""
        return plain(self.tree)

    def apply(self, frame: Mapping[str, Any]) -> str | None:
        """Apply one top-level frame; raises ``PatchError`` when it makes no sense.

        Returns the frame's path when all it did was append a string to an existing string
        field, else ``None`` (the decoder may then put off reading the tree). The state takes
        the frame's values as they are (no copy): pass freshly parsed JSON.
        """
        path, op = _sticky(frame, self.path, self._op)
        value = frame["v"]
        text, self.live_text = self.live_text, None
        if text is not None and op == APPEND and path == self.path and isinstance(value, str):
            text.append(value)
            self.live_text = text
            return path
        self.path, self._op = path, op
        grown = self._apply(_SPLITS.get(path) or _split(path), op, value)
        if not isinstance(grown, TextBuffer):
            return None
        self.live_text = grown
        return path

    def resolve(self, frame: Mapping[str, Any]) -> tuple[str, str]:
        """The path and op ``frame`` would act with (sticky rules applied), without applying it."""
        return _sticky(frame, self.path, self._op)

    def get(self, path: str) -> Any:
        """The value at ``path`` as plain JSON (``None`` when it does not exist)."""
        node = self.tree
        for key in _split(path):
            try:
                node = _child(node, key)
            except PatchError:
                return None
        return plain(node)

    def _apply(self, keys: tuple[str, ...], op: str, value: Any) -> Any:
        """Apply one (sub-)frame; an APPEND returns the grown value."""
        if op == BATCH:
            self._batch(keys, value)
        elif op == SET:
            self._set(keys, value)
        else:
            return self._append(keys, value)
        return None

    def _batch(self, prefix: tuple[str, ...], frames: Any) -> None:
        if not isinstance(frames, list):
            raise PatchError("BATCH value is not a list")
        path, op = "", SET  # a batch starts with a fresh sticky state
        for frame in frames:
            if not isinstance(frame, dict):  # parsed JSON
                raise PatchError("BATCH item is not an object")
            path, op = _sticky(frame, path, op)
            self._apply(prefix + (_SPLITS.get(path) or _split(path)), op, frame["v"])

    def _set(self, keys: tuple[str, ...], value: Any) -> None:
        if not keys:
            self.tree = value
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

    def _append(self, keys: tuple[str, ...], value: Any) -> Any:
        if not keys:
            raise PatchError("APPEND needs a path")
        parent = self._container(keys[:-1])
        last = keys[-1]
        if isinstance(parent, list):
            index = _index(parent, last)
            grown = parent[index] = _appended(parent[index], value)
        else:
            grown = parent[last] = _appended(parent.get(last), value)
        return grown

    def _container(self, keys: tuple[str, ...]) -> dict[str, Any] | list[Any]:
        """Walk to the object or array that holds the target, creating missing objects."""
        if not isinstance(self.tree, dict | list):
            self.tree = {}
        node: dict[str, Any] | list[Any] = self.tree
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


def _split(path: str) -> tuple[str, ...]:
    """The keys of ``path``, kept in ``_SPLITS`` if short: callers look there first (no call per frame)."""
    keys = tuple(key for key in path.split("/") if key)
    if len(path) <= _SPLIT_PATH_MAX:
        if len(_SPLITS) >= _SPLITS_KEPT:
            _SPLITS.clear()
        _SPLITS[path] = keys
    return keys


# A stream uses a few short paths over and over ("response/fragments/-1/content"...). The paths
# are the upstream's to choose and an SSE line has no length limit, and the cache outlives every
# stream: it holds at most 256 paths of at most 128 characters; a longer one is split each time.
_SPLITS: dict[str, tuple[str, ...]] = {}
_SPLITS_KEPT = 256
_SPLIT_PATH_MAX = 128


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
    if isinstance(current, TextBuffer) and isinstance(value, str):
        current.append(value)
        return current
    if isinstance(current, str) and isinstance(value, str):
        grown = TextBuffer(current)  # the one copy of the text so far; later appends add pieces
        grown.append(value)
        return grown
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
