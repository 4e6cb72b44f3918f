"""What one request came to, noted by whoever learns it, read once when the request ends.

The access log middleware (``api.ops.access``) makes one ``RequestRecord`` per request and puts it in
a context variable; the parts that know something (the chat runner: the model; the lease wrapper:
the account and the queue wait; the edge: the first event, the usage, the error) write a field.
Context variables follow the request into the tasks it starts (the edge's producer), and a
field write is all it costs on the request path.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from deepseek_free_api.chat.events import TokenUsage
from deepseek_free_api.errors import ServiceError


@dataclass(slots=True)
class RequestRecord:
    """One request's outcome; every time is ``time.perf_counter()`` seconds."""

    started: float
    model: str = "-"
    account: str | None = None
    first_event: float | None = None  # the first batch of the answer reached the edge
    usage: TokenUsage | None = None
    error: ServiceError | None = None


current_request: ContextVar[RequestRecord | None] = ContextVar("deepseek_free_api_request", default=None)


def note_error(error: ServiceError) -> None:
    """Remember why the current request failed (its code and message go to the log line)."""
    record = current_request.get()
    if record is not None:
        record.error = error
