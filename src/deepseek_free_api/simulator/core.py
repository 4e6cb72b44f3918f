"""The simulator object every route shares, and the gate every ``/api/v0`` call passes.

The gate waits ``network_latency_ms``, logs the request for ``/_sim/requests``, answers edge
blocks and HTTP faults, the client gate (40300, 40005), checks the bearer token (40003), answers
for disabled and banned accounts (90008, 40012) and turns validation failures into HTTP 422.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from .calls import ENTRY_KEY
from .config import SimulatorConfig
from .envelope import BodyInvalid, invalid_pow, invalid_token
from .faults import REQUEST_FAULTS, STREAM_FAULTS, Fault, FaultBook, parse_header
from .pow import PowIssuer, PowRejected
from .signals import account_refusal, captcha_response, client_refusal
from .state import Account, World

FAULT_HEADER = "x-sim-fault"
_CLOUDFLARE_PAGE = (
    '<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title></head>'
    "<body><noscript>Enable JavaScript and cookies to continue</noscript></body></html>"
)


class Simulator:
    """Configuration plus the mutable world; ``reset()`` starts over."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        """Forget sessions, files, requests, counters; restore accounts and configured faults."""
        self.world = World(self.config)
        # client/settings' model configs; ``POST /_sim/models/<model_type>`` switches one off or on.
        self.models = tuple(self.config.models)
        self.pow = PowIssuer(self.config.difficulty, self.config.pow_expire_after_ms)
        self.faults = FaultBook(self.config.faults)


@dataclass
class Call:
    """One ``/api/v0`` request as a handler sees it."""

    request: Request
    body: bytes
    token: str | None
    account: Account | None
    entry: dict[str, Any]
    header_fault: Fault | None
    sim: Simulator

    @property
    def user(self) -> Account:
        """The authenticated account (the gate guarantees one on authenticated routes)."""
        assert self.account is not None
        return self.account

    def stream_fault(self, prompt: str | None) -> Fault | None:
        """The stream fault for this call: the header's, else the first armed one that matches."""
        if self.header_fault is not None and self.header_fault.name in STREAM_FAULTS:
            return self.header_fault
        return self.sim.faults.take(
            kinds=STREAM_FAULTS,
            path=self.request.url.path,
            account_id=self.account.id if self.account else None,
            token=self.token,
            prompt=prompt,
        )


def pow_refusal(call: Call) -> Response | None:
    """40301 unless ``X-Ds-Pow-Response`` holds a valid fresh answer for this path."""
    try:
        call.sim.pow.check(call.request.headers.get("x-ds-pow-response"), call.request.url.path)
    except PowRejected as exc:
        call.sim.world.count("pow_rejected")
        call.entry["pow_rejected"] = exc.reason
        return invalid_pow()
    return None


Handler = Callable[[Call], Awaitable[Response]]
WAF_COOKIE = "HWWAFSESID"


def bearer(request: Request) -> str | None:
    """The token of ``Authorization: Bearer <token>``."""
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _log_entry(request: Request, body: bytes) -> dict[str, Any]:
    headers = {k: v for k, v in request.headers.items() if k != "authorization"}
    if "authorization" in request.headers:
        headers["authorization"] = "Bearer ***"  # never keep tokens
    parsed: Any = None
    if request.headers.get("content-type", "").startswith("application/json") and body:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
    prompt = parsed.get("prompt") if isinstance(parsed, dict) else None
    if isinstance(parsed, dict) and "password" in parsed:
        parsed = {**parsed, "password": "***"}
    return {
        "time": time.time(),
        # The client's end of the connection: which calls came over one connection.
        "client_port": request.client.port if request.client is not None else None,
        "method": request.method,
        "path": request.url.path,
        "query": dict(request.query_params),
        "headers": headers,
        "body": parsed,
        "prompt": prompt if isinstance(prompt, str) else None,
        "account": None,
        "status": None,
    }


def request_fault_response(fault: Fault) -> Response:
    """What an HTTP-level fault or an edge block answers."""
    if fault.name == "edge_html":
        return HTMLResponse(_CLOUDFLARE_PAGE, status_code=403)
    if fault.name == "edge_waf":
        return Response(b"", status_code=202, headers={"x-amzn-waf-action": "challenge"})
    if fault.name == "edge_captcha":
        return captcha_response()
    status = {"http_500": 500, "http_502": 502, "http_503": 503}.get(fault.name) or int(
        fault.number("status", 500)
    )
    return PlainTextResponse("Internal Server Error" if status == 500 else "Bad Gateway", status_code=status)


def gated(sim: Simulator, handler: Handler, *, auth: bool = True) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler with logging, faults, edge blocks, token check and 422 mapping."""

    async def endpoint(request: Request) -> Response:
        if sim.config.network_latency_ms > 0:  # the request's way to upstream, before anything
            await asyncio.sleep(sim.config.network_latency_ms / 1000)
        world = sim.world
        body = await request.body()
        entry = _log_entry(request, body)
        world.log_request(entry, len(body) + 512)  # 512: the entry besides its body
        holder = request.scope.get(ENTRY_KEY)
        if isinstance(holder, dict):  # the call meter stamps ``ended`` on it (calls.py)
            holder["entry"] = entry
        world.count("requests")
        token = bearer(request)
        account = world.by_token(token) if token else None
        entry["account"] = account.id if account else None
        header_fault = None
        if FAULT_HEADER in request.headers:
            try:
                header_fault = parse_header(request.headers[FAULT_HEADER])
            except ValueError:
                header_fault = None
        response = _edge(sim, request, token, account, header_fault, entry.get("prompt"))
        if isinstance(response, Fault):  # ``delay``: the same answer, later
            await asyncio.sleep(response.number("seconds", 1.0))
            response = None
        if response is None:
            response = client_refusal(sim.config, request)  # the client first: it is not the account
        if response is None and auth and (account is None or account.revoked):
            response = invalid_token()
        if response is None and auth and account is not None:
            response = account_refusal(account)
        if response is None:
            call = Call(request, body, token, account, entry, header_fault, sim)
            try:
                response = await handler(call)
            except BodyInvalid as exc:
                response = exc.response()
        entry["status"] = response.status_code
        if WAF_COOKIE not in request.cookies:
            # The edge's WAF gives each new browser its session cookie (PROTOCOL.md §1, Cookie row):
            # a client that sends one account's to another ties the two together.
            response.set_cookie(WAF_COOKIE, secrets.token_hex(16), path="/", httponly=True)
        return response

    return endpoint


def _edge(
    sim: Simulator,
    request: Request,
    token: str | None,
    account: Account | None,
    header_fault: Fault | None,
    prompt: str | None,
) -> Response | Fault | None:
    if header_fault is not None and header_fault.name in REQUEST_FAULTS:
        fault: Fault | None = header_fault
    else:
        fault = sim.faults.take(
            kinds=REQUEST_FAULTS,
            path=request.url.path,
            account_id=account.id if account else None,
            token=token,
            prompt=prompt,
        )
    if fault is None:
        block = (account.edge_block if account else "") or sim.config.edge_block
        fault = Fault(f"edge_{block}") if block else None
    if fault is None:
        return None
    sim.world.count(f"fault_{fault.name}")
    return fault if fault.name == "delay" else request_fault_response(fault)
