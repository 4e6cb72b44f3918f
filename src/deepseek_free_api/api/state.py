"""What the routes need from the running application, built once in the app's lifespan."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from starlette.requests import Request

from deepseek_free_api.api.edge import Dialect, Drain, Run, TurnResponse
from deepseek_free_api.api.limits import KeyGate
from deepseek_free_api.chat.failover import Caller
from deepseek_free_api.chat.ports import EventSink
from deepseek_free_api.chat.request import ChatRequest, ReasoningOutput


@dataclass(frozen=True, slots=True)
class OutputOptions:
    """Server-wide output defaults."""

    reasoning_output: ReasoningOutput = "reasoning_content"
    search_sources_text: bool = True


class Runner(Protocol):
    """Runs a chat request to its end (``chat.failover.ChatRunner``, metered by ``api.ops``)."""

    async def run(self, request: ChatRequest, caller: Caller, sink: EventSink) -> None: ...


@dataclass(frozen=True, slots=True)
class Core:
    """The running application's parts, as the routes see them."""

    runner: Runner
    caller: Callable[[str | None], Awaitable[Caller]]  # 401 for a credential that may not call
    gate: KeyGate  # stored keys' limits, everyone's usage
    check_token: Callable[[str], Awaitable[bool]]
    output: OutputOptions
    max_body_bytes: int
    keepalive_s: float
    request_timeout_s: float
    drain: Drain


def turn_response(core: Core, run: Run, dialect: Dialect, *, stream: bool) -> TurnResponse:
    """The shared runner for one chat request, with the server's keep-alive, timeout and drain."""
    return TurnResponse(
        run,
        dialect,
        stream=stream,
        keepalive_s=core.keepalive_s,
        timeout_s=core.request_timeout_s,
        drain=core.drain,
    )


def core_of(request: Request) -> Core:
    """The Core stored on the app by its lifespan."""
    core: Core = request.app.state.core
    return core
