"""Message content of any public dialect reduced to the text the web model can read.

OpenAI sends ``content`` as a string or a list of parts (``text``, ``image_url``, ``file``,
``input_audio``, ``refusal``); the Responses API uses ``input_text``/``output_text``/
``input_image``/``input_file``; Anthropic uses ``text``/``image``/``document`` blocks. The prompt
is a single string and nothing uploads files to DeepSeek yet, so text parts are kept and every
other part is refused (``UnsupportedContentError``, naming the part): a placeholder such as
``[image]`` would have the model answer as if it had seen an attachment it never received.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deepseek_free_api.errors import RequestError, UnsupportedContentError

_TEXT_TYPES = frozenset({"text", "input_text", "output_text"})
_ATTACHMENT_TYPES = {
    "image_url": "an image",
    "input_image": "an image",
    "image": "an image",
    "input_audio": "audio",
    "audio": "audio",
    "file": "a file",
    "input_file": "a file",
    "document": "a file",
}
# Reasoning blocks in history (Anthropic "thinking", Responses "reasoning") are not content.
_SKIPPED_TYPES = frozenset({"thinking", "redacted_thinking", "reasoning"})


def content_to_text(content: str | list[Any] | None, *, param: str = "content") -> str:
    """Join the text parts with newlines; any other part is a 400 whose ``param`` is ``{param}.{index}``."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    pieces = [
        piece for index, part in enumerate(content) if (piece := _part_to_text(part, f"{param}.{index}"))
    ]
    return "\n".join(pieces)


def _part_to_text(part: object, param: str) -> str:
    if isinstance(part, str):  # some clients send a bare list of strings
        return part
    if not isinstance(part, Mapping):
        raise RequestError(f"'{param}' must be a string or a content part object", param=param)
    kind = part.get("type")
    text = part.get("text")
    if kind in _TEXT_TYPES or (kind is None and isinstance(text, str)):
        if not isinstance(text, str):
            raise RequestError(f"'{param}' is a text part without a 'text' string", param=param)
        return text
    if kind == "refusal":
        refusal = part.get("refusal")
        return refusal if isinstance(refusal, str) else ""
    if kind in _SKIPPED_TYPES:
        return ""
    if not isinstance(kind, str) or not kind:
        raise RequestError(f"'{param}' has no 'type' (expected a text part)", param=param)
    what = _ATTACHMENT_TYPES.get(kind, "a part")
    shown = kind if len(kind) <= 32 else kind[:32] + "…"
    raise UnsupportedContentError(
        f"'{param}' is {what} ('{shown}' part): this server can only send text to DeepSeek, so it "
        "refuses the request rather than answer without it; send the content as text",
        param=param,
    )
