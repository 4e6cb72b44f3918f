"""Upstream failure signals -> the project's error tree (PROTOCOL.md §1.2, §2.4), in one table.

Three entry points read the three places DeepSeek reports failures: a JSON envelope
(``classify_envelope``), a non-stream HTTP answer (``classify_http``: status, headers, HTML or
JSON body) and an error frame inside the stream (``classify_stream_error``). Each turns what it
sees into a ``Signal``, and ``RULES`` is read top to bottom three times: DeepSeek's own codes
(``code``, ``biz_code``, ``finish_reason``, edge marks) first, then the HTTP status, and only then
its free text, so words in a body never override what the structured fields say.
Messages reach end users: they say what DeepSeek did, quote its words, and never carry a token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson

from deepseek_free_api.errors import (
    InputTooLongError,
    ModelDisabledError,
    MutedError,
    ServiceError,
    UpstreamError,
    UpstreamProtocolError,
)
from deepseek_free_api.upstream.error_rules import RULES, Rule, Signal
from deepseek_free_api.upstream.events import StreamErrorFrame


def classify_envelope(envelope: Mapping[str, Any], *, login: bool = False) -> ServiceError | None:
    """The error in a ``{"code", "msg", "data": {"biz_code", "biz_msg", "biz_data"}}`` envelope.

    ``login``: the answer to ``users/login``, where ``biz_code`` 10 means a banned account.
    """
    if _succeeded(envelope):
        return None
    signal = replace(_envelope_signal(envelope), login=login)
    if not signal.code and not signal.biz_code:
        return None
    return _decide(signal)


def classify_http(
    status: int, headers: Mapping[str, str], body: bytes, content_type: str
) -> ServiceError | None:
    """The error in a non-stream HTTP answer; ``None`` for a successful one."""
    lowered = {key.lower(): value for key, value in headers.items()}
    kind = content_type.split(";")[0].strip().lower()
    head = body[:512].lstrip().lower()
    html = kind in ("text/html", "application/xhtml+xml") or head.startswith((b"<!doctype html", b"<html"))
    if (
        (status == 202 and "x-amzn-waf-action" in lowered)
        or html
        or lowered.get("cf-mitigated") == "challenge"
    ):
        waf = status == 202 or lowered.get("cf-mitigated") == "challenge"
        return _decide(Signal(status=status, html=html, waf=waf, text=_html_title(body)))
    payload = _json(body)
    if isinstance(payload, dict) and ("code" in payload or "data" in payload):
        if status < 400 and _succeeded(payload):
            return None
        signal = _envelope_signal(payload)
        if status < 400 and not signal.code and not signal.biz_code:
            return None
        quoted_status = status if status != 200 else None  # "HTTP 200" would tell the user nothing
        return _decide(replace(signal, status=quoted_status, retry_after=_retry_after(lowered)))
    if status >= 400 or status == 202:
        text = _detail(payload) if payload is not None else ""
        return _decide(
            Signal(status=status, text=text, retry_after=_retry_after(lowered)),
            fallback=f"DeepSeek answered HTTP {status}",
        )
    if kind == "text/event-stream" or (payload is not None and kind.endswith("json")):
        return None
    return UpstreamProtocolError(
        f"DeepSeek answered HTTP {status} with {kind or 'no content type'} that this server cannot read"
    )


def classify_stream_error(frame: StreamErrorFrame) -> ServiceError:
    """The error an in-stream ``{"type":"error"}`` / ``hint`` / ``toast`` frame or envelope stands for."""
    where = f"a {frame.event} event" if frame.event else "an error frame"
    signal = Signal(
        text=frame.message,
        finish_reason=frame.finish_reason,
        code=frame.code,
        biz_code=frame.biz_code,
        mute_until=frame.mute_until,
    )
    return _decide(signal, fallback=f"DeepSeek stopped the answer with {where}")


def _decide(signal: Signal, *, fallback: str = "DeepSeek refused the request") -> ServiceError:
    rule = _rule_for(signal)
    if rule is None:
        return _build(UpstreamError, fallback, signal, None)
    return _build(rule.error, rule.explain, signal, rule.retry_after)


def _rule_for(signal: Signal) -> Rule | None:
    """The first row whose codes match, else whose HTTP status matches, else whose words match.

    Structured fields win: a 503 whose page says "upgrade" is a server error, not an old client.
    DeepSeek's words decide only when its codes and the status say nothing specific.
    """
    for rule in RULES:
        if rule.fields is not None and rule.fields(signal):
            return rule
    status = signal.status
    if status is not None:
        for rule in RULES:
            if rule.status is not None and rule.status[0] <= status <= rule.status[1]:
                return rule
    if signal.text:
        for rule in RULES:
            if rule.words is not None and rule.words.search(signal.text):
                return rule
    return None


def _build(kind: type[ServiceError], explain: str, signal: Signal, retry: float | None) -> ServiceError:
    message = f"{explain}{_quote(signal)}"
    if kind is MutedError:
        if signal.mute_until is not None:
            until = datetime.fromtimestamp(signal.mute_until, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            message = f"{explain} until {until}{_quote(signal)}"
        return MutedError(message, mute_until=signal.mute_until)
    if issubclass(kind, InputTooLongError):
        return kind(message, param="messages", code="context_length_exceeded")
    if issubclass(kind, ModelDisabledError):
        return kind(message, param="model", code="model_disabled")
    return kind(message, retry_after=signal.retry_after if signal.retry_after is not None else retry)


def _quote(signal: Signal) -> str:
    """`` (DeepSeek: code 40003, "Authorization Failed")``: the upstream facts, redacted."""
    parts = [
        f"{name} {value}"
        for name, value in (
            ("HTTP", signal.status),
            ("code", signal.code),
            ("biz_code", signal.biz_code),
            ("finish_reason", signal.finish_reason),
        )
        if value
    ]
    if signal.text:
        parts.append(f'"{_redact(signal.text)}"')
    return f" (DeepSeek: {', '.join(parts)})" if parts else ""


# Bearer values and anything long and token-shaped (JWTs, hex/base64 secrets) are cut out, so a
# body that echoes a credential cannot carry it to a user or a log.
_SECRET = re.compile(r"(?i)bearer\s+\S+|[A-Za-z0-9_\-+/=.]{32,}")


def _redact(text: str) -> str:
    text = _SECRET.sub("[redacted]", " ".join(text.split()))
    return text if len(text) <= 300 else text[:299] + "…"


def _succeeded(envelope: Mapping[str, Any]) -> bool:
    """``code`` 0 and ``biz_code`` 0: nearly every answer, and no error whatever else it holds.

    A shortcut only: every envelope it accepts, ``_envelope_signal`` reads as no error too.
    """
    data = envelope.get("data")
    return envelope.get("code") == 0 and isinstance(data, dict) and data.get("biz_code") == 0


def _envelope_signal(envelope: Mapping[str, Any]) -> Signal:
    data = envelope.get("data")
    data = data if isinstance(data, Mapping) else {}
    biz_data = data.get("biz_data")
    biz_data = biz_data if isinstance(biz_data, Mapping) else {}
    # Some servers leave biz_msg empty and put the text in biz_data.msg (DS2-go, 2026).
    texts = [envelope.get("msg"), data.get("biz_msg"), biz_data.get("msg")]
    text = next((item for item in texts if isinstance(item, str) and item), "")
    return Signal(
        text=text,
        code=_int(envelope.get("code")),
        biz_code=_int(data.get("biz_code")),
        # biz_data.mute_until with biz_code 5 (2026-09); data.mute_until with code 50006 (chm413, 2026-08).
        mute_until=epoch_seconds(biz_data.get("mute_until")) or epoch_seconds(data.get("mute_until")),
    )


def epoch_seconds(value: Any) -> float | None:
    """A positive Unix time in seconds (a JSON number), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body) if body.strip() else None
    except orjson.JSONDecodeError:
        return None


def _detail(payload: Any) -> str:
    """FastAPI-style 422 ``{"detail":[{"loc":["body","x"]…}]}``: name the fields."""
    if isinstance(payload, Mapping) and isinstance(payload.get("detail"), list):
        locs = [
            ".".join(str(part) for part in item.get("loc", ()))
            for item in payload["detail"]
            if isinstance(item, Mapping)
        ]
        return "invalid fields: " + ", ".join(locs)
    if isinstance(payload, Mapping) and isinstance(payload.get("detail"), str):
        return str(payload["detail"])
    return ""


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after", "")
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _html_title(body: bytes) -> str:
    match = _TITLE.search(body[:65536])
    return match.group(1).decode("utf-8", errors="replace").strip() if match else ""
