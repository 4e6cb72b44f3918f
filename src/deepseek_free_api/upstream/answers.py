"""What DeepSeek answered: the status, headers, body and cookies of an answer, a JSON call's
``biz_data`` or the classified error, and raw answers.

Only what the client uses is read of an answer: the status, the headers (lower-case names,
repeated ones joined with ", ", as curl_cffi's ``dict(response.headers)``), the body and the
cookies set (parsed as curl_cffi's session parses them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

import orjson
from curl_cffi.requests import Cookies

from deepseek_free_api.errors import ServiceError, UpstreamError, UpstreamProtocolError
from deepseek_free_api.upstream.classifier import classify_envelope, classify_http

# The most of one raw answer kept in memory (a completion's whole event stream, for the canary).
RAW_LIMIT = 1024 * 1024


@dataclass(frozen=True, slots=True)
class RawAnswer:
    """A non-streamed answer as it came: status, headers and the body (at most RAW_LIMIT bytes)."""

    status: int
    headers: Mapping[str, str]
    body: bytes = field(repr=False)


class Answer:
    """A whole answer: status, headers, body, and the cookies it set."""

    __slots__ = ("status_code", "headers", "content", "_set_cookies")

    def __init__(self, status: int, headers: dict[str, str], content: bytes, set_cookies: list[str]) -> None:
        self.status_code = status
        self.headers = headers
        self.content = content
        self._set_cookies = set_cookies

    @property
    def cookies(self) -> Cookies | None:
        """The cookies the answer set, parsed as curl_cffi's session parses them (None: none)."""
        return received_cookies(self._set_cookies) if self._set_cookies else None


def parse_head(lines: list[bytes]) -> tuple[int, dict[str, str], list[str]]:
    """Status, headers and Set-Cookie values of the last header block (after 1xx, a proxy's CONNECT).

    Read from the lines alone, not from the handle: a stream's handle may serve another request
    by the time its answer is read (an answer that ended before its owner looked).
    """
    status, block = 0, list[bytes]()
    for line in lines:  # bytes; the text comes after, decoded once
        if line.startswith(b"HTTP/"):
            code = line.split(None, 2)[1:2]
            status = int(code[0]) if code and code[0].isdigit() else 0
            block = []
        elif line[:1] in (b" ", b"\t") and block:
            block[-1] = block[-1].rstrip(b"\r\n") + line  # a folded line continues the last one
        elif line.strip():
            block.append(line)
    raw = b"".join(block)
    try:  # as curl_cffi's Headers: UTF-8 when every byte fits, else ISO-8859-1
        text = raw.decode()
    except UnicodeDecodeError:
        text = raw.decode("iso-8859-1")
    headers: dict[str, str] = {}
    set_cookies: list[str] = []
    for text_line in text.splitlines():
        name, _, value = text_line.partition(":")
        name, value = name.lower(), value.strip()
        if name in headers:
            headers[name] += ", " + value
        else:
            headers[name] = value
        if name == "set-cookie":
            set_cookies.append(value)
    return status, headers, set_cookies


def received_cookies(set_cookies: list[str]) -> Cookies:
    """The cookies of Set-Cookie values, as curl_cffi's ``Response.cookies`` has them."""
    cookies = Cookies()
    for set_cookie in set_cookies:
        try:
            cookie: SimpleCookie = SimpleCookie()
            cookie.load(set_cookie)
            for name, morsel in cookie.items():
                cookies.set(
                    name,
                    morsel.coded_value,
                    domain=morsel.get("domain", ""),
                    path=morsel.get("path", "/"),
                    secure=bool(morsel.get("secure")),
                )
        except Exception:  # noqa: BLE001, S112 - as curl_cffi: a cookie it cannot parse is skipped
            continue
    return cookies


def envelope_data(
    status: int, headers: Mapping[str, str], content: bytes, path: str, *, login: bool = False
) -> Any:
    """``biz_data`` of a JSON answer to ``path``, or the classified error it stands for, raised."""
    content_type = headers.get("content-type", "")
    error: ServiceError | None = classify_http(status, headers, content, content_type)
    if error is not None:
        raise error
    try:
        envelope = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise UpstreamProtocolError(f"DeepSeek answered {path} with invalid JSON") from exc
    if not isinstance(envelope, dict):  # parsed JSON: dicts only, no ABC check
        raise UpstreamProtocolError(f"DeepSeek answered {path} with an unexpected JSON shape")
    error = classify_envelope(envelope, login=login)
    if error is not None:
        raise error
    data = envelope.get("data")
    if not isinstance(data, dict):
        raise UpstreamError(f"DeepSeek answered {path} without data")
    return data.get("biz_data")


def dig(data: Any, *keys: str) -> Any:
    """``data[k1][k2]...`` through parsed JSON objects (dicts), or None where a level is missing."""
    for key in keys:
        if not isinstance(data, dict):  # parsed JSON
            return None
        data = data.get(key)
    return data


def device_of(body: Mapping[str, Any] | None) -> str | None:
    """The device id a login sends (the key of its cookies and connections before it has a token)."""
    device = body.get("device_id") if body is not None else None
    return device if isinstance(device, str) and device else None
