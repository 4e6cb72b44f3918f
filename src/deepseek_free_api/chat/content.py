"""Message content of any public dialect reduced to text plus the images and files it carries.

OpenAI sends ``content`` as a string or a list of parts (``text``, ``image_url``, ``file``,
``input_audio``, ``refusal``); the Responses API uses ``input_text``/``output_text``/
``input_image``/``input_file``; Anthropic uses ``text``/``image``/``document`` blocks.

``split_content`` keeps the text and turns images and files into ``Attachment`` values, which the
turn uploads to DeepSeek (``chat.files``): inline data (a ``data:`` URL or base64) is kept as sent
and decoded only for the upload (``chat.inline``), an http(s) URL is kept and fetched then, only if
``files.remote_urls`` allows it. What
cannot reach DeepSeek is refused with ``UnsupportedContentError`` naming the part: audio (the web
chat has no audio input) and references to a file store this server does not have (``file_id``).
``content_to_text`` is for places that cannot send attachments: every non-text part is refused
there, since a placeholder such as ``[image]`` would have the model answer as if it had seen it.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from typing import Any

from deepseek_free_api.chat.inline import InlineData, base64_data, percent_data, text_data
from deepseek_free_api.chat.request import Attachment, AttachmentKind
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
    text, _ = _walk(content, param, attachments=False)
    return text


def split_content(
    content: str | list[Any] | None, *, param: str = "content"
) -> tuple[str, tuple[Attachment, ...]]:
    """The text parts joined with newlines, and the images and files to upload, in order."""
    return _walk(content, param, attachments=True)


def _walk(
    content: str | list[Any] | None, param: str, *, attachments: bool
) -> tuple[str, tuple[Attachment, ...]]:
    if content is None:
        return "", ()
    if isinstance(content, str):
        return content, ()
    pieces: list[str] = []
    found: list[Attachment] = []
    for index, part in enumerate(content):
        where = f"{param}.{index}"
        attachment = _attachment(part, where) if attachments else None
        if attachment is not None:
            found.append(attachment)
        elif piece := _part_to_text(part, where):
            pieces.append(piece)
    return "\n".join(pieces), tuple(found)


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
    if what == "audio":
        reason = "DeepSeek's web chat has no audio input"
    elif what == "a part":
        reason = "this server does not know how to send it to DeepSeek"
    else:
        reason = "this endpoint can only send text to DeepSeek"
    raise UnsupportedContentError(
        f"'{param}' is {what} ('{shown}' part): {reason}, so it refuses the request rather than "
        "answer without it",
        param=param,
    )


def _attachment(part: object, param: str) -> Attachment | None:
    """The image or file of an attachment part; ``None`` for any other part."""
    if not isinstance(part, Mapping):
        return None
    kind = part.get("type")
    if kind == "image_url":  # OpenAI chat: {"image_url": {"url": ...}} (some clients: a string)
        inner = part.get("image_url")
        url = inner.get("url") if isinstance(inner, Mapping) else inner
        return _from_url("image", url, None, f"{param}.image_url.url")
    if kind == "input_image":  # Responses: {"image_url": "..."} or {"file_id": ...}
        _no_file_store(part, param)
        return _from_url("image", part.get("image_url"), None, f"{param}.image_url")
    if kind == "file":  # OpenAI chat: {"file": {"file_data", "filename"}} or {"file": {"file_id"}}
        inner = part.get("file")
        if not isinstance(inner, Mapping):
            raise RequestError(f"'{param}.file' must be an object with 'file_data'", param=f"{param}.file")
        _no_file_store(inner, f"{param}.file")
        return _from_data("file", inner.get("file_data"), inner.get("filename"), f"{param}.file.file_data")
    if kind == "input_file":  # Responses: file_data + filename, file_url, or file_id
        _no_file_store(part, param)
        if part.get("file_url") is not None:
            return _from_url("file", part.get("file_url"), part.get("filename"), f"{param}.file_url")
        return _from_data("file", part.get("file_data"), part.get("filename"), f"{param}.file_data")
    if kind in ("image", "document"):  # Anthropic: {"source": {"type": "base64" | "url" | "text", ...}}
        return _from_source("image" if kind == "image" else "file", part, param)
    return None


def _no_file_store(part: Mapping[str, Any], param: str) -> None:
    if part.get("file_id") is not None:
        raise UnsupportedContentError(
            f"'{param}.file_id' refers to an uploaded file, and this server keeps no file store: "
            "send the content inline (base64 or a data: URL) instead",
            param=f"{param}.file_id",
        )


def _from_source(kind: AttachmentKind, part: Mapping[str, Any], param: str) -> Attachment:
    source = part.get("source")
    where = f"{param}.source"
    if not isinstance(source, Mapping):
        raise RequestError(f"'{where}' must be an object", param=where)
    title = part.get("title") if isinstance(part.get("title"), str) else None
    source_type = source.get("type")
    if source_type == "base64":
        media_type = source.get("media_type")
        data = base64_data(source.get("data"), f"{where}.data")
        return _attachment_of(kind, data, media_type if isinstance(media_type, str) else "", title, param)
    if source_type == "url":
        return _from_url(kind, source.get("url"), title, f"{where}.url")
    if source_type == "text" and kind == "file" and isinstance(source.get("data"), str):
        return _attachment_of(kind, text_data(source["data"], f"{where}.data"), "text/plain", title, param)
    _no_file_store(source, where)
    raise UnsupportedContentError(
        f"'{where}.type' must be 'base64' or 'url'" + (" or 'text'" if kind == "file" else ""),
        param=f"{where}.type",
    )


def _from_url(kind: AttachmentKind, url: object, filename: object, param: str) -> Attachment:
    """A ``data:`` URL decoded now, or an http(s) URL kept for ``chat.files`` to fetch (if allowed)."""
    if not isinstance(url, str) or not url:
        raise RequestError(f"'{param}' must be a data: URL or an http(s) URL", param=param)
    if url[:5].lower() == "data:":
        media_type, data = _data_url(url, param)
        return _attachment_of(kind, data, media_type, filename, param)
    if url.split(":", 1)[0].lower() in ("http", "https"):
        name = filename if isinstance(filename, str) and filename else ""
        return Attachment(kind, name, "", url=url, param=param)
    raise RequestError(f"'{param}' must be a data: URL or an http(s) URL", param=param)


def _from_data(kind: AttachmentKind, file_data: object, filename: object, param: str) -> Attachment:
    """``file_data``: a ``data:`` URL, or bare base64 (its type then comes from the file name)."""
    if not isinstance(file_data, str) or not file_data:
        raise RequestError(f"'{param}' must be the file's content in base64 (or a data: URL)", param=param)
    if file_data[:5].lower() == "data:":
        media_type, data = _data_url(file_data, param)
    else:
        media_type, data = "", base64_data(file_data, param)
    return _attachment_of(kind, data, media_type, filename, param)


def _attachment_of(
    kind: AttachmentKind, data: InlineData, media_type: str, filename: object, param: str
) -> Attachment:
    name = filename.strip() if isinstance(filename, str) else ""
    media_type = media_type.strip().lower()
    if not media_type and name:
        media_type = mimetypes.guess_type(name)[0] or ""
    if kind == "image" and not media_type.startswith("image/"):
        raise UnsupportedContentError(
            f"'{param}' is not an image: its type is '{(media_type or 'unknown')[:64]}'", param=param
        )
    if not name:
        name = ("image" if kind == "image" else "file") + (mimetypes.guess_extension(media_type) or ".bin")
    return Attachment(kind, name, media_type or "application/octet-stream", inline=data, param=param)


def _data_url(url: str, param: str) -> tuple[str, InlineData]:
    """``data:[<media type>][;base64],<data>`` -> (media type, the data to decode at upload time)."""
    header, comma, payload = url[5:].partition(",")
    if not comma:
        raise RequestError(f"'{param}' is not a valid data: URL (no comma)", param=param)
    media_type, *params = header.split(";")
    if params and params[-1].strip().lower() == "base64":
        return media_type, base64_data(payload, param)
    return media_type, percent_data(payload, param)
