"""Faults on demand: armed by config or ``POST /_sim/faults``, or per request by ``X-Sim-Fault``.

Request faults answer any ``/api/v0`` call instead of the real handler:

* ``http_500`` / ``http_502`` / ``http_503`` / ``http_error`` (param ``status``) — a 5xx page;
* ``edge_html`` — a Cloudflare-style HTML block page (HTTP 403, D4F 2025-02);
* ``edge_waf`` — HTTP 202 with ``x-amzn-waf-action: challenge`` (NIY ``is_waf_challenge``, 2026-05);
* ``edge_captcha`` — a bot check: HTTP 200, ``biz_code 11 RISK_DEVICE_DETECTED`` with a captcha;
* ``delay`` (param ``seconds``, default 1) — the call is answered as usual, but that much later
  (upstream handles it even if the client left meanwhile, as a server does).

Stream faults apply to generating calls (completion, continue, regenerate, edit_message):

* ``json_instead_of_sse`` (params ``code``, ``msg``) — HTTP 200 JSON envelope, no stream;
* ``drop_mid_stream`` (param ``after`` content frames, default 2) — the connection is cut;
* ``stall`` (param ``seconds``, default 2) — no bytes for a while after the first content frame;
* ``malformed_sse`` — one ``data:`` line that is not JSON, then the stream goes on;
* ``utf8_split`` — every event is written in two parts cut inside a multi-byte character;
* ``long_line`` (param ``chars``, default 1 100 000) — the answer arrives in one > 1 MB ``data:`` line;
* ``generation_err`` (param ``after`` characters) — status INCOMPLETE + generation_err; continue works;
* ``new_message`` (``chat/continue`` only) — the answer goes on under a new message id, announced
  by the continuation's ``ready``; the old message stays INCOMPLETE;
* ``busy``, ``throttle``, ``rate_limit`` — the busy error, the throttle error, the
  ``rate_limit_reached`` hint;
* ``format_drift`` — a 200 event stream of frames in a shape no decoder knows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import FaultSpec

REQUEST_FAULTS = frozenset(
    {"http_500", "http_502", "http_503", "http_error", "edge_html", "edge_waf", "edge_captcha", "delay"}
)
STREAM_FAULTS = frozenset(
    {
        "json_instead_of_sse",
        "drop_mid_stream",
        "stall",
        "malformed_sse",
        "utf8_split",
        "long_line",
        "generation_err",
        "new_message",
        "busy",
        "throttle",
        "rate_limit",
        "format_drift",
    }
)
STREAM_PATHS = frozenset(
    {
        "/api/v0/chat/completion",
        "/api/v0/chat/continue",
        "/api/v0/chat/regenerate",
        "/api/v0/chat/edit_message",
    }
)


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault chosen for one request."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def number(self, key: str, default: float) -> float:
        """A numeric parameter."""
        return float(self.params.get(key, default))


@dataclass
class ArmedFault:
    """A fault waiting for matching requests."""

    spec: FaultSpec
    remaining: int | None  # None = unlimited
    fired: int = 0

    def matches(self, *, path: str, account_id: str | None, token: str | None, prompt: str | None) -> bool:
        """Whether this request is one the fault is armed for."""
        spec = self.spec
        if spec.fault in STREAM_FAULTS and path not in STREAM_PATHS:
            return False
        if spec.path and spec.path not in path:
            return False
        if spec.token and spec.token != token:
            return False
        if spec.account and spec.account != account_id:
            return False
        return not (spec.prompt_contains and spec.prompt_contains not in (prompt or ""))

    def describe(self) -> dict[str, Any]:
        """JSON view for /_sim."""
        spec = self.spec
        return {
            "fault": spec.fault,
            "remaining": self.remaining,
            "fired": self.fired,
            "token_filter": bool(spec.token),
            "account": spec.account,
            "prompt_contains": spec.prompt_contains,
            "path": spec.path,
            "params": dict(spec.params),
        }


def validate(name: str) -> None:
    """Raise ValueError for an unknown fault name."""
    if name not in REQUEST_FAULTS | STREAM_FAULTS:
        raise ValueError(f"unknown fault {name!r}")


class FaultBook:
    """The armed faults, first armed first served."""

    def __init__(self, specs: tuple[FaultSpec, ...] = ()) -> None:
        self._armed: list[ArmedFault] = []
        for spec in specs:
            self.arm(spec)

    def arm(self, spec: FaultSpec) -> ArmedFault:
        """Add a fault; ``times`` 0 means until cleared."""
        validate(spec.fault)
        armed = ArmedFault(spec, spec.times or None)
        self._armed.append(armed)
        return armed

    def clear(self) -> None:
        """Disarm everything."""
        self._armed.clear()

    def describe(self) -> list[dict[str, Any]]:
        """JSON view of what is still armed."""
        return [a.describe() for a in self._armed]

    def take(
        self,
        *,
        kinds: frozenset[str],
        path: str,
        account_id: str | None,
        token: str | None,
        prompt: str | None,
    ) -> Fault | None:
        """Consume one firing of the first matching fault among ``kinds``."""
        for armed in self._armed:
            if armed.spec.fault not in kinds:
                continue
            if not armed.matches(path=path, account_id=account_id, token=token, prompt=prompt):
                continue
            armed.fired += 1
            if armed.remaining is not None:
                armed.remaining -= 1
                if armed.remaining <= 0:
                    self._armed.remove(armed)
            return Fault(armed.spec.fault, dict(armed.spec.params))
        return None


def parse_header(value: str) -> Fault:
    """``X-Sim-Fault: stall; seconds=0.5`` -> Fault("stall", {"seconds": "0.5"})."""
    name, *pairs = [part.strip() for part in value.split(";")]
    validate(name)
    params: dict[str, Any] = {}
    for pair in pairs:
        if "=" in pair:
            key, _, raw = pair.partition("=")
            params[key.strip()] = raw.strip()
    return Fault(name, params)
