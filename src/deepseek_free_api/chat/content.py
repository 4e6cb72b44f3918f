"""Message content of any public dialect reduced to the text the web model can read.

OpenAI sends ``content`` as a string or a list of parts (``text``, ``image_url``, ``file``,
``input_audio``, ``refusal``); the Responses API uses ``input_text``/``output_text``/
``input_image``/``input_file``; Anthropic uses ``text``/``image``/``document`` blocks. The prompt
is a single string, so text parts are kept and every other part leaves a short placeholder: the
model then knows something was attached instead of answering as if nothing was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_TEXT_TYPES = frozenset({"text", "input_text", "output_text"})
_PLACEHOLDERS = {
    "image_url": "image",
    "input_image": "image",
    "image": "image",
    "input_audio": "audio",
    "audio": "audio",
    "file": "file",
    "input_file": "file",
    "document": "file",
}
# Reasoning blocks in history (Anthropic "thinking", Responses "reasoning") are not content.
_SKIPPED_TYPES = frozenset({"thinking", "redacted_thinking", "reasoning"})


def content_to_text(content: str | list[Mapping[str, Any]] | None) -> str:
    """Join the text parts with newlines; describe other parts as ``[image]``, ``[file: name]``, ...."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    pieces = [piece for part in content if (piece := _part_to_text(part))]
    return "\n".join(pieces)


def _part_to_text(part: Mapping[str, Any] | str) -> str:
    if isinstance(part, str):  # some clients send a bare list of strings
        return part
    if not isinstance(part, Mapping):
        return ""
    kind = part.get("type")
    text = part.get("text")
    if kind in _TEXT_TYPES or (kind is None and isinstance(text, str)):
        return text if isinstance(text, str) else ""
    if kind == "refusal":
        refusal = part.get("refusal")
        return refusal if isinstance(refusal, str) else ""
    if not isinstance(kind, str) or not kind or kind in _SKIPPED_TYPES:
        return ""
    label = _PLACEHOLDERS.get(kind, kind)
    filename = _filename(part)
    return f"[{label}: {filename}]" if filename else f"[{label}]"


def _filename(part: Mapping[str, Any]) -> str | None:
    """The file name of an OpenAI ``file``/``input_file`` part or an Anthropic ``document`` title."""
    for holder in (part.get("file"), part):
        if isinstance(holder, Mapping):
            for key in ("filename", "title"):
                value = holder.get(key)
                if isinstance(value, str) and value:
                    return value
    return None
