"""The rule table of ``upstream.classifier``: what each DeepSeek failure signal means.

A ``Signal`` is everything one failure says (codes, HTTP status, edge marks, free text); ``RULES``
are read top to bottom by the classifier, DeepSeek's own codes first, then the HTTP status, then
the text (PROTOCOL.md §1.2, §2.4). Dates and sources of the facts are noted on the rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from deepseek_free_api.errors import (
    AccountBannedError,
    AccountBusyError,
    AccountDisabledError,
    ClientVersionError,
    ContentFilteredError,
    EdgeBlockedError,
    InputTooLongError,
    InvalidPowError,
    InvalidSessionError,
    InvalidTokenError,
    MissingHeaderError,
    ModelDisabledError,
    MutedError,
    ServiceError,
    ThrottledError,
    UpstreamServerError,
)

BUSY_RETRY_AFTER = 5.0  # "retry after ~5 s" (SRC-69391278382, measured 2026-09-11)
THROTTLE_RETRY_AFTER = 20.0  # "消息发送过于频繁": back off >= 20 s (same source)


@dataclass(frozen=True, slots=True)
class Signal:
    """Everything a rule may look at, whatever the source."""

    text: str = ""
    code: int | None = None
    biz_code: int | None = None
    finish_reason: str | None = None
    status: int | None = None
    html: bool = False
    waf: bool = False
    mute_until: float | None = None
    retry_after: float | None = None
    login: bool = False  # the answer to users/login, where biz_code 10 means a banned account


Matcher = Callable[[Signal], bool]


def _code(*codes: int) -> Matcher:
    return lambda s: s.code in codes


def _biz(*codes: int) -> Matcher:
    return lambda s: s.biz_code in codes


def _either(*codes: int) -> Matcher:
    """``code`` or ``biz_code``: the account signals of 2026 come as either (chm413 0db8d3d)."""
    return lambda s: s.code in codes or s.biz_code in codes


def _reason(*reasons: str) -> Matcher:
    return lambda s: s.finish_reason in reasons


def _any(*matchers: Matcher) -> Matcher:
    return lambda s: any(matcher(s) for matcher in matchers)


def _said(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Rule:
    """One row: what DeepSeek's codes, the HTTP status or its words say, and the error it means."""

    error: type[ServiceError]
    explain: str
    fields: Matcher | None = None  # DeepSeek's own codes: code, biz_code, finish_reason, edge marks
    status: tuple[int, int] | None = None  # an HTTP status range, inclusive
    words: re.Pattern[str] | None = None  # free text: decides only when nothing structured did
    retry_after: float | None = None


RULES: tuple[Rule, ...] = (
    # AWS WAF challenge: HTTP 202 + x-amzn-waf-action, blocks many US IPs (NIY client.rs, 2026-05).
    Rule(
        EdgeBlockedError,
        "DeepSeek's firewall (AWS WAF) answered with a browser challenge instead of the API: "
        "this server's IP address is blocked or challenged",
        fields=lambda s: s.waf,
    ),
    # Cloudflare "Just a moment…" pages; text/html for non-Chinese IPs (DFA #48, 2025-01).
    Rule(
        EdgeBlockedError,
        "DeepSeek's edge (Cloudflare/WAF) answered with an HTML page instead of the API: "
        "this server's IP address or region is blocked or challenged",
        fields=lambda s: s.html and not (s.status is not None and 500 <= s.status <= 599),
    ),
    # 90008 disabled, 40012 / login biz_code 10 USER_IS_BANNED, in JSON or inside a 200 stream
    # (chm413/DeepSeek_Web_To_API account_health.go, 2026-08-13).
    Rule(
        AccountDisabledError,
        "DeepSeek has disabled this account",
        fields=_either(90008),
    ),
    Rule(
        AccountBannedError,
        "DeepSeek has banned this account",
        fields=lambda s: s.code == 40012 or s.biz_code == 40012 or (s.login and s.biz_code == 10),
        words=_said(r"user[ _]is[ _]banned|(?:account|user) has been banned|(?:账号|用户|账户)已被封禁"),
    ),
    # 40005 CLIENT_VERSION_TOO_LOW on any call (NIyueeE/ds-free-api #9, 2026-04-08).
    Rule(
        ClientVersionError,
        "DeepSeek refuses the client version this server claims as too low; raise persona.client_version "
        "to what the web app sends now",
        fields=_code(40005),
        words=_said(r"client_version_too_low"),
    ),
    # 40300 "Missing Header" (DFA #44, 2025-01-09, when the PoW header became mandatory).
    Rule(
        MissingHeaderError,
        "DeepSeek wants a header this server does not send: its web app changed, this server needs an update",
        fields=_code(40300),
        words=_said(r"missing header"),
    ),
    # A bot check: login risk control (biz_code 11 RISK_DEVICE_DETECTED, deepseaport notes 2026-09)
    # or a captcha payload (Shumei, hCaptcha: PROTOCOL.md §2.4).
    Rule(
        EdgeBlockedError,
        "DeepSeek asked for a captcha or bot check that a server cannot pass (an egress address or "
        "device problem, not the account's): log in once in a browser from this address, or use another one",
        words=_said(r"risk_device|captcha|smidv2"),
    ),
    Rule(
        InvalidTokenError,
        "DeepSeek rejected the account token (invalid or expired)",
        fields=_code(40003, 40001, 40002),
        words=_said(r"invalid token|authorization failed|token (?:is )?expired"),
    ),
    Rule(
        InvalidPowError,
        "DeepSeek refused the proof-of-work answer",
        fields=_code(40301),
        words=_said(r"invalid_pow"),
    ),
    # biz_code 5 "user is muted" + mute_until (measured 2026-09-11); code 50006 MUTED, also inside a
    # 200 stream (chm413 docs/account-health.md, 2026-08).
    Rule(
        MutedError,
        "DeepSeek has muted this account",
        fields=lambda s: s.biz_code == 5 or s.code == 50006 or s.biz_code == 50006,
        words=_said(r"\bmuted\b|禁言"),
    ),
    Rule(
        AccountBusyError,
        "The DeepSeek account is already generating another answer",
        words=_said(r"message is being generated|正在生成"),
        retry_after=BUSY_RETRY_AFTER,
    ),
    Rule(
        ThrottledError,
        "DeepSeek throttled the account for sending too often",
        # code 1001/1201: JSON instead of SSE when rate limited (NIY completions.rs)
        fields=_any(_code(1001, 1201), _reason("rate_limit_reached")),
        status=(429, 429),
        words=_said(r"频繁|too (?:many|frequent)|rate.?limit"),
        retry_after=THROTTLE_RETRY_AFTER,
    ),
    Rule(
        InputTooLongError,
        "The prompt is longer than DeepSeek accepts for this model",
        fields=_reason("input_exceeds_limit"),
        words=_said(r"content is too long|过长|超出.{0,6}(?:长度|限制)"),
    ),
    Rule(
        ContentFilteredError,
        "DeepSeek's content filter refused to answer",
        fields=_reason("content_filter"),
        words=_said(r"content.?filter"),
    ),
    Rule(
        ClientVersionError,
        "DeepSeek refuses the client version this server claims; update the configured client version",
        fields=_reason("unsupported_client_by_model"),
        words=_said(
            r"version.{0,12}(?:too )?(?:low|old)|upgrade|update (?:the|your) (?:app|client)|版本过低|升级"
        ),
    ),
    # A mode DeepSeek switched off (client/settings enabled=false, 2026-09): the simulator's refusal.
    Rule(
        ModelDisabledError,
        "DeepSeek has switched this mode off (client/settings says enabled=false); use another model",
        words=_said(r"invalid_model_type|model.{0,12}(?:disabled|not enabled)"),
    ),
    # biz_code 26: edit_message/continue with a message id the session does not have (NIY ref §5).
    Rule(
        InvalidSessionError,
        "DeepSeek does not know the message to continue from in this chat session",
        fields=_biz(26),
        words=_said(r"invalid message id"),
    ),
    Rule(
        InvalidSessionError,
        "DeepSeek no longer knows this chat session (deleted or expired)",
        words=_said(
            r"session.{0,24}(?:invalid|expired|not (?:found|exist)|deleted)|(?:invalid|expired).{0,12}session"
            # biz_code 1 ILLEGAL_CHAT_SESSION_ID: an unknown session id (NIY ref §8, 2026-05), e.g. a
            # prepared session that DeepSeek's side forgot; retried with a new session.
            r"|illegal_chat_session_id|会话.{0,8}(?:不存在|失效|过期)"
        ),
    ),
    Rule(
        UpstreamServerError,
        "DeepSeek failed while generating the answer",
        fields=_reason("generation_err", "backend_busy"),
        status=(500, 599),
    ),
    Rule(InvalidTokenError, "DeepSeek refused the account's credentials", status=(401, 403)),
)
