"""Upstream failures map to the right error class with a message a user can act on."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepseek_free_api.errors import (
    AccountBusyError,
    ClientVersionError,
    ContentFilteredError,
    EdgeBlockedError,
    InputTooLongError,
    InvalidPowError,
    InvalidSessionError,
    InvalidTokenError,
    MutedError,
    ServiceError,
    ThrottledError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamServerError,
)
from deepseek_free_api.upstream import classifier
from deepseek_free_api.upstream.classifier import classify_envelope, classify_http, classify_stream_error
from deepseek_free_api.upstream.events import StreamErrorFrame

TOKEN = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2VuLWZvci10ZXN0cy1vbmx5LTEyMzQ1Njc4OTA.c2ln"


def envelope(
    code: int = 0, msg: str = "", biz_code: int = 0, biz_msg: str = "", biz_data: Any = None
) -> dict[str, Any]:
    data = None if code else {"biz_code": biz_code, "biz_msg": biz_msg, "biz_data": biz_data}
    return {"code": code, "msg": msg, "data": data}


@pytest.mark.parametrize(
    ("body", "kind", "words"),
    [
        (envelope(40003, "Authorization Failed (invalid token)"), InvalidTokenError, "token"),
        (envelope(40001, "Unauthorized"), InvalidTokenError, "token"),
        (envelope(40002, ""), InvalidTokenError, "token"),
        (envelope(40301, "INVALID_POW_RESPONSE"), InvalidPowError, "proof-of-work"),
        (envelope(1001, "rate limited"), ThrottledError, "too often"),
        (envelope(1201, ""), ThrottledError, "too often"),
        (envelope(biz_code=3, biz_msg="消息发送过于频繁，请稍后重试"), ThrottledError, "too often"),
        (envelope(biz_code=3, biz_msg="Too many requests, slow down"), ThrottledError, "too often"),
        (
            envelope(biz_code=4, biz_msg="A message is being generated, please try again later."),
            AccountBusyError,
            "already generating",
        ),
        (
            envelope(biz_code=7, biz_data={"msg": "chat session is invalid or expired"}),
            InvalidSessionError,
            "session",
        ),
        (envelope(biz_code=7, biz_msg="会话不存在"), InvalidSessionError, "session"),
        (envelope(biz_code=26, biz_msg="invalid message id"), InvalidSessionError, "message"),
        (
            envelope(biz_code=9, biz_msg="Your client version is too low, please upgrade"),
            ClientVersionError,
            "client version",
        ),
        (
            envelope(biz_code=99, biz_msg="Something new went wrong"),
            UpstreamError,
            "Something new went wrong",
        ),
    ],
)
def test_envelopes(body: dict[str, Any], kind: type[ServiceError], words: str) -> None:
    error = classify_envelope(body)
    assert type(error) is kind
    assert words in error.message


def test_success_envelope_is_no_error() -> None:
    assert classify_envelope(envelope(biz_data={"chat_session": {"id": "x"}})) is None


def test_muted_account_carries_mute_until_and_says_until_when() -> None:
    body = envelope(
        biz_code=5, biz_msg="user is muted", biz_data={"is_muted": 1, "mute_until": 1789173841.894}
    )
    error = classify_envelope(body)
    assert isinstance(error, MutedError)
    assert error.mute_until == pytest.approx(1789173841.894)
    assert "muted this account until 2026-09-12" in error.message
    assert error.retryable


def test_throttle_and_busy_suggest_a_wait() -> None:
    throttled = classify_envelope(envelope(biz_code=3, biz_msg="消息发送过于频繁，请稍后重试"))
    busy = classify_envelope(
        envelope(biz_code=4, biz_msg="A message is being generated, please try again later.")
    )
    assert throttled is not None and throttled.retry_after == 20
    assert busy is not None and busy.retry_after == 5


def http(
    status: int, body: bytes = b"", content_type: str = "application/json", **headers: str
) -> ServiceError | None:
    return classify_http(status, {"Content-Type": content_type, **headers}, body, content_type)


def test_cloudflare_html_is_an_edge_block() -> None:
    page = b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>challenge</body></html>"
    error = http(403, page, "text/html; charset=UTF-8")
    assert isinstance(error, EdgeBlockedError)
    assert "Cloudflare/WAF" in error.message and "Just a moment" in error.message


def test_html_on_200_is_an_edge_block_too() -> None:
    assert isinstance(http(200, b"<html><body>blocked</body></html>", "text/html"), EdgeBlockedError)


def test_aws_waf_challenge() -> None:
    error = classify_http(202, {"X-Amzn-Waf-Action": "challenge"}, b"", "")
    assert isinstance(error, EdgeBlockedError)
    assert "AWS WAF" in error.message


def test_html_server_error_page_is_a_server_error() -> None:
    error = http(502, b"<html><title>502 Bad Gateway</title></html>", "text/html")
    assert isinstance(error, UpstreamServerError) and error.retryable
    assert "HTTP 502" in error.message


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, InvalidTokenError),
        (403, InvalidTokenError),
        (429, ThrottledError),
        (500, UpstreamServerError),
        (503, UpstreamServerError),
        (404, UpstreamError),
    ],
)
def test_http_statuses(status: int, kind: type[ServiceError]) -> None:
    error = http(status, b"", "text/plain")
    assert type(error) is kind
    assert f"HTTP {status}" in error.message


def test_429_uses_retry_after_header() -> None:
    error = http(429, b"", "text/plain", **{"Retry-After": "42"})
    assert isinstance(error, ThrottledError) and error.retry_after == 42


def test_json_envelope_in_http_answer_goes_through_the_envelope_table() -> None:
    error = http(200, orjson.dumps(envelope(40301, "INVALID_POW_RESPONSE")))
    assert isinstance(error, InvalidPowError)
    assert http(200, orjson.dumps(envelope(biz_data={}))) is None


def test_422_names_the_fields() -> None:
    body = orjson.dumps({"detail": [{"loc": ["body", "chat_session_id"], "msg": "field required"}]})
    error = http(422, body)
    assert type(error) is UpstreamError
    assert "body.chat_session_id" in error.message


def test_event_stream_is_no_error_and_unreadable_content_is_a_protocol_error() -> None:
    assert http(200, b"data: {}\n\n", "text/event-stream") is None
    error = http(200, b"\x00\x01binary", "application/octet-stream")
    assert isinstance(error, UpstreamProtocolError)
    assert "application/octet-stream" in error.message


@pytest.mark.parametrize(
    ("frame", "kind"),
    [
        (StreamErrorFrame("A message is being generated, please try again later."), AccountBusyError),
        (StreamErrorFrame("消息发送过于频繁，请稍后重试", event="toast"), ThrottledError),
        (StreamErrorFrame("Rate limit reached", "rate_limit_reached", "hint"), ThrottledError),
        (
            StreamErrorFrame(
                "Content is too long. Please shorten it and try again.", "input_exceeds_limit", "hint"
            ),
            InputTooLongError,
        ),
        (StreamErrorFrame("Server is temporarily unavailable.", "generation_err"), UpstreamServerError),
        (StreamErrorFrame("", "backend_busy"), UpstreamServerError),
        (
            StreamErrorFrame("This model is not available for your client", "unsupported_client_by_model"),
            ClientVersionError,
        ),
        (
            StreamErrorFrame("The version is too low, please update the app", event="toast"),
            ClientVersionError,
        ),
        (StreamErrorFrame("blocked", "content_filter"), ContentFilteredError),
        (StreamErrorFrame("Something unexpected"), UpstreamError),
    ],
)
def test_stream_errors(frame: StreamErrorFrame, kind: type[ServiceError]) -> None:
    error = classify_stream_error(frame)
    assert type(error) is kind
    if frame.message:
        assert frame.message in error.message


def test_input_too_long_is_a_request_error_about_messages() -> None:
    error = classify_stream_error(StreamErrorFrame("Content is too long.", "input_exceeds_limit", "hint"))
    assert isinstance(error, InputTooLongError)
    assert error.param == "messages"


def test_unknown_stream_error_says_where_it_came_from() -> None:
    error = classify_stream_error(StreamErrorFrame("odd", event="toast"))
    assert "toast" in error.message and '"odd"' in error.message


def test_messages_never_carry_tokens() -> None:
    errors = [
        classify_envelope(envelope(40003, f"Authorization Failed (invalid token {TOKEN})")),
        classify_envelope(envelope(biz_code=99, biz_msg=f"bad header Authorization: Bearer {TOKEN[:20]}")),
        classify_stream_error(StreamErrorFrame(f"session {TOKEN} expired")),
        http(
            401, orjson.dumps({"detail": f"token {TOKEN} rejected"}), **{"Authorization": f"Bearer {TOKEN}"}
        ),
    ]
    for error in errors:
        assert error is not None
        assert TOKEN not in error.message and TOKEN[:20] not in error.message
        assert "[redacted]" in error.message


# Structured fields (DeepSeek's codes, then the HTTP status) win over words in a body: a body's
# text is prose that may mention anything ("upgrade", "rate limit", "invalid token").
@pytest.mark.parametrize(
    ("error", "kind"),
    [
        # A 503 page whose text mentions an upgrade is a passing server error, not an old client.
        (http(503, orjson.dumps({"detail": "Maintenance: we upgrade our servers"})), UpstreamServerError),
        (http(503, b"Service upgrade in progress", "text/plain"), UpstreamServerError),
        (
            http(502, b"<html><title>Please upgrade your browser</title></html>", "text/html"),
            UpstreamServerError,
        ),
        (http(500, orjson.dumps(envelope(biz_code=9, biz_msg="invalid token"))), UpstreamServerError),
        (http(429, orjson.dumps({"detail": "content filter says: session expired"})), ThrottledError),
        (http(401, orjson.dumps({"detail": "A message is being generated"})), InvalidTokenError),
        # DeepSeek's own codes beat the status and the words.
        (http(403, orjson.dumps(envelope(40301, "invalid token, please upgrade"))), InvalidPowError),
        (classify_envelope(envelope(40301, "Authorization Failed (invalid token)")), InvalidPowError),
        (classify_envelope(envelope(40003, "rate limit: too many requests")), InvalidTokenError),
        (classify_envelope(envelope(biz_code=5, biz_msg="version too low, upgrade")), MutedError),
        (classify_envelope(envelope(biz_code=26, biz_msg="too frequent")), InvalidSessionError),
        (classify_envelope(envelope(1001, "content is too long")), ThrottledError),
        (
            classify_stream_error(StreamErrorFrame("Please upgrade to continue", "generation_err")),
            UpstreamServerError,
        ),
        (
            classify_stream_error(StreamErrorFrame("A message is being generated", "input_exceeds_limit")),
            InputTooLongError,
        ),
        (
            classify_stream_error(StreamErrorFrame("content is too long", "rate_limit_reached")),
            ThrottledError,
        ),
        (classify_stream_error(StreamErrorFrame("user is muted", "content_filter")), ContentFilteredError),
        (classify_stream_error(StreamErrorFrame("session expired", "backend_busy")), UpstreamServerError),
    ],
)
def test_structured_fields_win_over_words(error: ServiceError | None, kind: type[ServiceError]) -> None:
    assert type(error) is kind


def test_a_503_mentioning_an_upgrade_stays_retryable() -> None:
    error = http(503, orjson.dumps({"detail": "upgrade in progress, back soon"}))
    assert isinstance(error, UpstreamServerError) and error.retryable
    assert "HTTP 503" in error.message and "upgrade in progress" in error.message


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        # Nothing structured says what happened: DeepSeek's words decide.
        (http(400, orjson.dumps({"detail": "invalid message id"})), InvalidSessionError),
        (http(404, orjson.dumps({"detail": "chat session not found"})), InvalidSessionError),
        (http(422, orjson.dumps({"detail": "Your client version is too low"})), ClientVersionError),
        (classify_envelope(envelope(biz_code=3, biz_msg="Too many requests")), ThrottledError),
        (classify_envelope(envelope(7, "token is expired")), InvalidTokenError),
        (classify_stream_error(StreamErrorFrame("Content is too long.", "something_new")), InputTooLongError),
    ],
)
def test_words_decide_when_the_fields_say_nothing_specific(
    error: ServiceError | None, kind: type[ServiceError]
) -> None:
    assert type(error) is kind


CODES: list[Any] = [0, 0.0, False, True, None, "0", " 7", 1, 5, 40003, "40003", 50006, [], {}]
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "code": st.sampled_from(CODES),
        "msg": st.sampled_from(["", "MUTED", "Authorization Failed (invalid token)"]),
        "data": st.one_of(
            st.none(),
            st.just([]),
            st.fixed_dictionaries(
                {},
                optional={
                    "biz_code": st.sampled_from(CODES),
                    "biz_msg": st.sampled_from(["", "user is muted"]),
                    "biz_data": st.one_of(st.none(), st.just({"mute_until": 1900000000})),
                },
            ),
        ),
    },
)


def described(error: ServiceError | None) -> tuple[type[ServiceError], str] | None:
    return None if error is None else (type(error), str(error))


@settings(max_examples=300, deadline=None)
@given(body=envelopes, status=st.sampled_from([200, 202, 400, 429, 500]), login=st.booleans())
def test_the_success_shortcut_decides_as_the_full_reading(
    body: dict[str, Any], status: int, login: bool
) -> None:
    # The shortcut for code 0 / biz_code 0 answers never decides otherwise than reading them whole.
    raw = orjson.dumps(body)
    shortcut = (
        described(classify_envelope(body, login=login)),
        described(classify_http(status, {}, raw, "application/json")),
    )
    with patch.object(classifier, "_succeeded", lambda envelope: False):
        full = (
            described(classify_envelope(body, login=login)),
            described(classify_http(status, {}, raw, "application/json")),
        )
    assert shortcut == full
