"""Inline attachment content (base64, a ``data:`` URL, plain text): kept as sent until it is uploaded.

Parsing a request only looks at an attachment; ``decode`` runs in the uploader (``chat.files``),
after the count, the size (``bound``, then ``size``) and the model are checked and after DeepSeek
has accepted the account's token, so a request that cannot be delivered, or a made-up token, costs
no decoding. Decoding goes slice by slice, so it needs the decoded bytes plus one slice, whatever
the input looks like.

Percent-encoded ``data:`` URLs (``data:text/plain,hello%20world``) are for short text: longer than
``MAX_PERCENT_ENCODED`` characters they are refused when the request is parsed. (``urllib``'s decoder
holds about 230 bytes per escape at once: 2.5 million ``%41`` took a server from 60 to 645 MB.)
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote_to_bytes

from deepseek_free_api.errors import PayloadTooLargeError, RequestError

MAX_PERCENT_ENCODED = 64 * 1024
_SLICE = 64 * 1024  # base64 characters decoded at a time
_PERCENT_SLICE = 4096  # percent-encoded characters decoded at a time (urllib's decoder is greedy)
_WHITESPACE = " \t\n\r\f\v"

Encoding = Literal["base64", "percent", "text"]


@dataclass(frozen=True, slots=True)
class InlineData:
    """Content as the caller sent it: ``decode`` gives the bytes; ``param`` names it in errors."""

    text: str = field(repr=False)
    encoding: Encoding
    param: str

    @property
    def bound(self) -> int:
        """At least the decoded size in bytes, from the length alone (no work)."""
        if self.encoding == "base64":
            return len(self.text) * 3 // 4
        return len(self.text) * (1 if self.text.isascii() else 4)  # UTF-8 takes at most 4 bytes a character

    def size(self) -> int:
        """The decoded size in bytes (of valid base64: without decoding it)."""
        if self.encoding == "base64":
            characters = len(self.text) - _spaces(self.text)
            return characters // 4 * 3 - min(2, self.text[-16:].count("="))  # "=" only pads the end
        return len(self.decode())  # short: percent-encoded text is capped, plain text is the body's

    def decode(self) -> bytes:
        """The bytes; RequestError (400) naming ``param`` if the base64 is not valid."""
        if self.encoding == "base64":
            return _base64(self.text, self.param)
        if self.encoding == "percent":
            return _percent(self.text)
        return self.text.encode()


def base64_data(value: object, param: str) -> InlineData:
    """Base64 text to decode at upload time (whitespace allowed, as MIME writes it)."""
    if not isinstance(value, str):
        raise RequestError(f"'{param}' must be a base64 string", param=param)
    return InlineData(value, "base64", param)


def percent_data(payload: str, param: str) -> InlineData:
    """The percent-encoded payload of a ``data:`` URL; 413 above ``MAX_PERCENT_ENCODED`` characters."""
    if len(payload) > MAX_PERCENT_ENCODED:
        raise PayloadTooLargeError(
            f"'{param}' is a percent-encoded data: URL of more than {MAX_PERCENT_ENCODED} characters "
            "(the limit for that form): send larger content base64-encoded (data:<type>;base64,...)",
            param=param,
        )
    return InlineData(payload, "percent", param)


def text_data(text: str, param: str) -> InlineData:
    """Plain text sent as a document (uploaded as UTF-8)."""
    return InlineData(text, "text", param)


def _base64(text: str, param: str) -> bytes:
    """Decoded a slice at a time; padding only at the very end, as ``b64decode(validate=True)``."""
    pieces: list[bytes] = []
    rest = ""
    padded = False
    try:
        for start in range(0, len(text), _SLICE):
            letters = rest + "".join(text[start : start + _SLICE].split())
            whole = len(letters) - len(letters) % 4
            rest = letters[whole:]
            if whole and padded:
                raise binascii.Error("data after the padding")
            if whole:
                pieces.append(binascii.a2b_base64(letters[:whole], strict_mode=True))
                padded = letters[whole - 1] == "="
        if rest:
            raise binascii.Error("the base64 text is cut short")
    except (binascii.Error, ValueError) as exc:
        raise RequestError(f"'{param}' is not valid base64", param=param) from exc
    return b"".join(pieces)


def _percent(text: str) -> bytes:
    """Decoded a slice at a time; an escape cut by the slice's end waits for the next one."""
    pieces: list[bytes] = []
    rest = ""
    for start in range(0, len(text), _PERCENT_SLICE):
        chunk = rest + text[start : start + _PERCENT_SLICE]
        cut = chunk.find("%", len(chunk) - 2) if start + _PERCENT_SLICE < len(text) else -1
        rest = chunk[cut:] if cut >= 0 else ""
        pieces.append(unquote_to_bytes(chunk[:cut] if cut >= 0 else chunk))
    return b"".join(pieces)


def _spaces(text: str) -> int:
    return sum(text.count(space) for space in _WHITESPACE)
