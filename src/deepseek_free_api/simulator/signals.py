"""DeepSeek's 2026 account and client signals, as the simulator plays them (PROTOCOL.md §2.7).

Per account (config ``[[accounts]]`` or ``POST /_sim/accounts/<id>``): a ban that answers code
40012 on every call (``ban_signal = "code"``) or inside an HTTP-200 stream (``"stream"``), login
``biz_code 10``; a disable (code 90008 on every call); a mute as the JSON envelope of 2025
(``mute_signal = "biz_code"``), or as code 50006 inside an HTTP-200 stream, with ``mute_until``
(``"stream"``) or without it (``"stream_bare"``: only ``users/current`` says until when); a throttle
after ``throttle_burst`` completions per ``throttle_window_seconds`` that answers the
"消息发送过于频繁" error frame or the ``rate_limit_reached`` hint. For every client: a version gate
(``min_client_version``: 40005 CLIENT_VERSION_TOO_LOW) and required headers (40300 Missing Header).
Shapes and texts carry their source; where a source gave only the code, the rest is ours.
"""

from __future__ import annotations

import re
import time

from starlette.requests import Request
from starlette.responses import Response

from .config import SimulatorConfig
from .envelope import biz_error, code_error, json_response
from .sse import encode, short_stream
from .state import Account

# chm413/DeepSeek_Web_To_API internal/deepseek/client/account_health.go (2026-08-13, 0db8d3d).
BANNED = (40012, "USER_IS_BANNED")
LOGIN_BANNED = (10, "USER_IS_BANNED")
DISABLED = 90008  # biz_code with an empty biz_msg, as in that project's tests
MUTED = (50006, "MUTED")
# NIyueeE/ds-free-api issue #9 (2026-04-08): HTTP 200, {"code":40005,"msg":"CLIENT_VERSION_TOO_LOW"}.
VERSION_TOO_LOW = (40005, "CLIENT_VERSION_TOO_LOW")
# LLM-Red-Team/deepseek-free-api issue #44 (2025-01-09): {"code":40300,"msg":"Missing Header",...}.
MISSING_HEADER = (40300, "Missing Header")
# "deepseaport" notes (2026-09): a login DeepSeek's risk control refuses; the captcha fields are ours.
RISK_DEVICE = (11, "RISK_DEVICE_DETECTED")
# The English text of the throttle, as a hint with finish_reason rate_limit_reached (2026 gateways' tests).
TOO_FREQUENT = "Messages too frequent. Try again later."
THROTTLED = "消息发送过于频繁，请稍后重试"  # measured 2026-09-11 (SRC-69391278382)


def version_tuple(text: str) -> tuple[int, ...]:
    """``2.5.0-beta`` -> (2, 5, 0); anything unreadable is (0, 0, 0)."""
    match = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", text)
    return tuple(int(g or 0) for g in match.groups()) if match else (0, 0, 0)


def client_refusal(config: SimulatorConfig, request: Request) -> Response | None:
    """40300 when a required header is missing, 40005 when the client version is below the gate."""
    missing = [name for name in config.required_headers if not request.headers.get(name)]
    if missing:
        return json_response(
            {
                "code": MISSING_HEADER[0],
                "msg": MISSING_HEADER[1],
                "data": {"biz_code": 0, "biz_msg": "", "biz_data": None},
            }  # fmt: skip
        )
    gate = config.min_client_version
    if gate and version_tuple(request.headers.get("x-client-version", "")) < version_tuple(gate):
        return code_error(*VERSION_TOO_LOW)
    return None


def account_refusal(account: Account) -> Response | None:
    """What a disabled account, or one banned with ``ban_signal = "code"``, answers to every call."""
    if account.disabled:
        return biz_error(DISABLED, "")
    if account.banned and account.ban_signal == "code":
        return code_error(*BANNED)
    return None


def login_refusal(account: Account) -> Response | None:
    """Login of a disabled account, or of a banned one that is told so (``biz_code 10``)."""
    if account.disabled:
        return biz_error(DISABLED, "")
    if account.banned and account.ban_signal != "empty":
        return biz_error(*LOGIN_BANNED)
    return None


def captcha_response() -> Response:
    """A bot check instead of the answer: HTTP 200, ``biz_code 11`` and a captcha to solve."""
    captcha = {"captcha_type": "smcaptcha", "rid": f"sim-{int(time.time() * 1000)}"}
    return biz_error(*RISK_DEVICE, {"captcha": captcha})


def mute_refusal(account: Account) -> Response | None:
    """A muted account's completion: the JSON envelope (biz_code 5) or code 50006 inside a 200 stream."""
    if not account.is_muted():
        return None
    until = account.muted_until
    if account.mute_signal == "stream":
        return short_stream([encode({"code": MUTED[0], "msg": MUTED[1], "data": {"mute_until": until}})])
    if account.mute_signal == "stream_bare":
        return short_stream([encode({"code": MUTED[0], "msg": MUTED[1], "data": None})])
    return biz_error(5, "user is muted", {"is_muted": 1, "mute_until": until})


def ban_stream(account: Account) -> Response | None:
    """A banned account with ``ban_signal = "stream"``: code 40012 inside an HTTP-200 event stream."""
    if account.banned and account.ban_signal == "stream":
        return short_stream([encode({"code": BANNED[0], "msg": BANNED[1], "data": None})])
    return None


def throttled(config: SimulatorConfig, account: Account) -> bool:
    """Whether this completion is one too many in the account's window (its own limits or the global)."""
    burst = config.throttle_burst if account.throttle_burst is None else account.throttle_burst
    window = (
        config.throttle_window_seconds
        if account.throttle_window_seconds is None
        else account.throttle_window_seconds
    )
    if burst <= 0:
        return False
    now = time.monotonic()
    while account.recent and now - account.recent[0] > window:
        account.recent.popleft()
    return len(account.recent) >= burst


def throttle_stream(account: Account) -> Response:
    """The throttle as the account is scripted to say it: the error frame or the hint."""
    if account.throttle_signal == "hint":
        hint = {"type": "error", "content": TOO_FREQUENT, "clear_response": True,
                "finish_reason": "rate_limit_reached"}  # fmt: skip
        return short_stream([encode(hint, "hint")])
    return short_stream([encode({"type": "error", "content": THROTTLED})])


def drifted_stream() -> Response:
    """A 200 event stream in a shape no decoder knows (the ``format_drift`` fault)."""
    frames = [{"delta": {"text": "Hello"}}, {"delta": {"text": " there"}}, {"done": True}]
    return short_stream([encode(frame, "chunk") for frame in frames])
