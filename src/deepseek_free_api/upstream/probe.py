"""The drift canary's checks on one account: each call as DeepSeek answered it, classified.

Per account: a login (accounts without a token), ``users/current``, ``client/settings?scope=model``,
a proof-of-work challenge (fetched and solved), and optionally a one-token completion in a new
session (deleted afterwards). Each result is one of ``RESULTS``; a failing one keeps sanitized
evidence: the HTTP status, the headers without cookies or credentials, the first bytes of the body
with anything token-shaped cut out. Checks run one after the other, one account at a time, so the
canary never adds load DeepSeek could read as a burst.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from deepseek_free_api.accounts.condition import iso
from deepseek_free_api.errors import (
    AccountBannedError,
    ClientVersionError,
    EdgeBlockedError,
    InvalidTokenError,
    MissingHeaderError,
    ModelDisabledError,
    MutedError,
    PowError,
    ServiceError,
    ThrottledError,
    UpstreamProtocolError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
)
from deepseek_free_api.upstream.account_info import mode_configs, user_status
from deepseek_free_api.upstream.classifier import classify_envelope, classify_http, classify_stream_error
from deepseek_free_api.upstream.client import (
    API,
    COMPLETION_PATH,
    CompletionParams,
    DeepSeekClient,
    RawAnswer,
    envelope_data,
)
from deepseek_free_api.upstream.decoder import StreamDecoder
from deepseek_free_api.upstream.events import Finish, Ready, StreamErrorFrame, TextDelta
from deepseek_free_api.upstream.persona import Locality
from deepseek_free_api.upstream.pow import PowChallenge, encode_header, solve_async
from deepseek_free_api.upstream.wire import Identity

OK = "ok"
RESULTS = (
    OK,
    "token invalid",
    "muted until …",
    "banned",
    "client version too low",
    "missing header",
    "WAF or captcha",
    "stream format changed",
    "format changed",
    "mode disabled",
    "throttled",
    "unreachable",
    "error",
)
EVIDENCE_BYTES = 512
# Headers that may carry a credential or a tracking cookie never go into the evidence.
_SECRET_HEADERS = frozenset(
    {"authorization", "cookie", "set-cookie", "x-ds-pow-response", "proxy-authorization"}
)
_TOKEN_SHAPED = re.compile(r"[A-Za-z0-9_\-+/=.]{32,}")
# Results after which the account's other checks would only fail the same way.
_FINAL = frozenset({"token invalid", "banned", "client version too low", "missing header", "WAF or captcha",
                    "unreachable"})  # fmt: skip
PROMPT = "Reply with the single word OK."


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a failing call looked like, without secrets."""

    status: int
    headers: tuple[tuple[str, str], ...]
    first_bytes: str


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check on one account: its result (one of ``RESULTS``), a detail, and evidence if it failed."""

    account: str
    check: str
    result: str
    detail: str = ""
    evidence: Evidence | None = None
    # The error of the project's tree the answer stands for, if any: what it means for the
    # account's health (canary.py applies it as a request's failure would be). Never shown.
    error: ServiceError | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """Whether DeepSeek answered this check as expected."""
        return self.result == OK

    def as_json(self) -> dict[str, Any]:
        """The result as plain JSON (without ``error``)."""
        return {
            "account": self.account,
            "check": self.check,
            "result": self.result,
            "detail": self.detail,
            "evidence": None if self.evidence is None else asdict(self.evidence),
        }


def verdict(error: ServiceError) -> str:
    """The canary's word for an error of the project's tree."""
    if isinstance(error, MutedError):
        return f"muted until {iso(error.mute_until)}" if error.mute_until else "muted until …"
    kinds: tuple[tuple[type[ServiceError], str], ...] = (
        (InvalidTokenError, "token invalid"),
        (AccountBannedError, "banned"),
        (MissingHeaderError, "missing header"),
        (ClientVersionError, "client version too low"),
        (EdgeBlockedError, "WAF or captcha"),
        (ModelDisabledError, "mode disabled"),
        (ThrottledError, "throttled"),
        (UpstreamUnreachableError, "unreachable"),
        (UpstreamTimeoutError, "unreachable"),
        (UpstreamProtocolError, "format changed"),
        (PowError, "format changed"),
    )
    return next((word for kind, word in kinds if isinstance(error, kind)), "error")


class _Failed(Exception):
    """A check failed in a way the canary has a word for (raised inside the checks only)."""

    def __init__(
        self, result: str, detail: str, evidence: Evidence | None, error: ServiceError | None = None
    ) -> None:
        super().__init__(detail)
        self.result, self.detail, self.evidence, self.error = result, detail, evidence, error


class Probe:
    """Runs the canary's checks with one client; ``secrets`` are cut out of any evidence."""

    def __init__(self, client: DeepSeekClient, *, secrets: Sequence[str] = ()) -> None:
        self._client = client
        self._secrets = [secret for secret in secrets if secret]

    async def account(
        self,
        name: str,
        identity: Identity | None,
        *,
        login: Mapping[str, Any] | None = None,
        completion: bool = False,
        proxy: str | None = None,
        locality: Locality | None = None,
    ) -> list[CheckResult]:
        """Every check on one account, stopping early once the rest could only fail the same way.

        ``proxy`` and ``locality``: the account's, for its login (as the server logs it in).
        """
        results: list[CheckResult] = []
        if identity is None or login is not None:
            token = await self._check(results, name, "login", self._login(login or {}, proxy, locality))
            if not isinstance(token, str):
                return results
            identity = Identity(
                token=token,
                device_id=str((login or {}).get("device_id", "")),
                proxy=proxy,
                locality=locality or Locality(),
            )
            self._secrets.append(token)
        steps = [("users/current", self._current), ("client/settings", self._settings), ("pow", self._pow)]
        if completion:
            steps.append(("completion", self._completion))
        for check, step in steps:
            await self._check(results, name, check, step(identity))
            if results[-1].result in _FINAL:
                break
        return results

    async def _check(
        self, results: list[CheckResult], name: str, check: str, step: Awaitable[tuple[object, str]]
    ) -> object:
        """Run one check; its result goes to ``results``; returns its value (None when it failed)."""
        try:
            value, detail = await step
        except _Failed as failed:
            results.append(
                CheckResult(name, check, failed.result, failed.detail, failed.evidence, failed.error)
            )
            return None
        except ServiceError as error:  # no answer at all (network, timeout), or a classified one
            results.append(CheckResult(name, check, verdict(error), self._clean(error.message), error=error))
            return None
        results.append(CheckResult(name, check, OK, detail))
        return value

    # -- the checks ------------------------------------------------------------------------------

    async def _login(
        self, body: Mapping[str, Any], proxy: str | None, locality: Locality | None
    ) -> tuple[str, str]:
        data = await self._json(
            "POST", "/users/login", None, json=body, login=True, proxy=proxy, locality=locality
        )
        user = data.get("user") if isinstance(data, Mapping) else None
        token = user.get("token") if isinstance(user, Mapping) else None
        if not isinstance(token, str) or not token:
            raise _Failed("format changed", "DeepSeek's login answer carried no token", None)
        return token, "logged in"

    async def _current(self, identity: Identity) -> tuple[object, str]:
        data = await self._json("GET", "/users/current", identity)
        status = user_status(data)
        if status.muted:
            until = status.mute_until
            detail = "users/current: is_muted = 1"
            error = MutedError(f"DeepSeek muted this account ({detail})", mute_until=until or None)
            raise _Failed(verdict(error), detail, None, error)
        return status, "not muted"

    async def _settings(self, identity: Identity) -> tuple[object, str]:
        modes = mode_configs(await self._json("GET", "/client/settings?scope=model", identity))
        off = [mode.model_type for mode in modes if not mode.enabled]
        limits = ", ".join(f"{m.model_type} {m.input_character_limit}" for m in modes if m.enabled)
        if off:
            raise _Failed("mode disabled", f"switched off: {', '.join(off)}; on: {limits}", None)
        return modes, f"input limits: {limits}"

    async def _pow(self, identity: Identity) -> tuple[object, str]:
        header = await self._solved(identity, COMPLETION_PATH)
        return header, "challenge solved"

    async def _completion(self, identity: Identity) -> tuple[object, str]:
        data = await self._json("POST", "/chat_session/create", identity, json={})
        session = data.get("chat_session") if isinstance(data, Mapping) else None
        session_id = (session or {}).get("id") if isinstance(session, Mapping) else None
        session_id = session_id or (data.get("id") if isinstance(data, Mapping) else None)
        if not session_id:
            detail = "chat_session/create gave no session (account or IP banned)"
            raise _Failed("banned", detail, None, AccountBannedError(detail))
        try:
            header = await self._solved(identity, COMPLETION_PATH)
            body = CompletionParams(session_id=str(session_id), prompt=PROMPT).body()
            raw = await self._client.raw(
                "POST", "/chat/completion", identity, json=body, headers={"X-Ds-Pow-Response": header}
            )
            return None, self._read_stream(raw)
        finally:
            try:
                await self._client.raw(
                    "POST", "/chat_session/delete", identity, json={"chat_session_id": session_id}
                )
            except ServiceError:
                pass  # housekeeping: the verdict above is what counts

    # -- plumbing ----------------------------------------------------------------------------------

    async def _solved(self, identity: Identity, target_path: str) -> str:
        data = await self._json(
            "POST", "/chat/create_pow_challenge", identity, json={"target_path": target_path}
        )
        challenge = data.get("challenge") if isinstance(data, Mapping) else None
        if not isinstance(challenge, Mapping):
            raise _Failed("format changed", "the PoW challenge answer had no challenge", None)
        parsed = PowChallenge.from_json(challenge)  # an unknown algorithm is a PowError: format changed
        return encode_header(parsed, await solve_async(parsed))

    def _read_stream(self, raw: RawAnswer) -> str:
        kind = raw.headers.get("content-type", "")
        error = classify_http(raw.status, raw.headers, raw.body, kind)
        if error is None and not kind.startswith("text/event-stream"):
            payload = _loads(raw.body)
            error = classify_envelope(payload) if isinstance(payload, Mapping) else None
            if error is None:
                raise _Failed(
                    "stream format changed",
                    f"HTTP {raw.status} {kind} instead of a stream",
                    self._evidence(raw),
                )
        if error is not None:
            raise _Failed(verdict(error), self._clean(error.message), self._evidence(raw), error)
        decoder = StreamDecoder()
        events = [*decoder.feed(raw.body), *decoder.close()]
        for event in events:
            if isinstance(event, StreamErrorFrame):
                error = classify_stream_error(event)
                raise _Failed(verdict(error), self._clean(error.message), self._evidence(raw), error)
        text = "".join(e.text for e in events if isinstance(e, TextDelta))
        if not any(isinstance(e, Ready) for e in events) or decoder.finish is None or not text:
            seen = sorted({type(e).__name__ for e in events}) or ["nothing this server understands"]
            raise _Failed("stream format changed", f"the stream held {', '.join(seen)}", self._evidence(raw))
        finish: Finish = decoder.finish
        return f"answered {len(text)} characters ({finish.status})"

    async def _json(
        self,
        method: str,
        path: str,
        identity: Identity | None,
        *,
        json: Mapping[str, Any] | None = None,
        login: bool = False,
        proxy: str | None = None,
        locality: Locality | None = None,
    ) -> Any:
        """``biz_data`` of one call, or _Failed with the verdict and the evidence."""
        raw = await self._client.raw(method, path, identity, json=json, proxy=proxy, locality=locality)
        try:
            return envelope_data(raw.status, raw.headers, raw.body, API + path, login=login)
        except ServiceError as error:
            evidence = self._evidence(raw)
            raise _Failed(verdict(error), self._clean(error.message), evidence, error) from error

    def _evidence(self, raw: RawAnswer) -> Evidence:
        headers = tuple(
            (name.lower(), self._clean(value))
            for name, value in raw.headers.items()
            if name.lower() not in _SECRET_HEADERS
        )
        text = raw.body[:EVIDENCE_BYTES].decode("utf-8", errors="replace")
        return Evidence(raw.status, headers, self._clean(text))

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return _TOKEN_SHAPED.sub("[redacted]", text)


def _loads(body: bytes) -> Any:
    try:
        return orjson.loads(body) if body.strip() else None
    except orjson.JSONDecodeError:
        return None


__all__ = ["OK", "RESULTS", "CheckResult", "Evidence", "Probe", "verdict"]
