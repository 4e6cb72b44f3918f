"""Loaded by ``bench/timeline.py`` into ``serve`` (PYTHONPATH): timestamps a few steps of each request.

Only when ``TIMELINE_OUT`` is set. Each request has its own record of marks (``time.perf_counter``,
the system's monotonic clock, as the bench's client reads it): made when its head is parsed, kept
on uvicorn's request cycle and in a context variable of the request's task (the tasks it starts
inherit it), and taken by the upstream transfer it opens, so the marks of concurrent requests do
not mix. A step is marked the first time it happens in a request; a mark costs a dictionary store.
``TIMELINE_DETAIL`` adds the finer steps between the request and the call to DeepSeek, and the
first decode. At exit the records of every chat request that wrote its answer's first byte go to
the file ``TIMELINE_OUT`` names, as JSON.
"""

from __future__ import annotations

import os

if os.environ.get("TIMELINE_OUT"):
    import atexit
    import contextvars
    import functools
    import importlib
    import inspect
    import json
    import time
    from typing import Any

    _now = time.perf_counter
    _records: list[dict[str, float]] = []
    _record: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar(
        "timeline_record", default=None
    )
    _MARKER = b"Qx7"  # bench/common.py's MARKER: the first answer byte

    def _mark(name: str, record: dict[str, float] | None = None) -> None:
        if record is None:
            record = _record.get()
        if record is not None and name not in record:
            record[name] = _now()

    def _wrap(module: str, qualname: str, start: str | None, end: str | None = None) -> None:
        owner: Any = importlib.import_module(module)
        *path, attribute = qualname.split(".")
        for part in path:
            owner = getattr(owner, part)
        function = getattr(owner, attribute)
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def wrapped(*args: Any, **kwargs: Any) -> Any:
                if start:
                    _mark(start)
                try:
                    return await function(*args, **kwargs)
                finally:
                    if end:
                        _mark(end)

        else:

            @functools.wraps(function)
            def wrapped(*args: Any, **kwargs: Any) -> Any:
                if start:
                    _mark(start)
                try:
                    return function(*args, **kwargs)
                finally:
                    if end:
                        _mark(end)

        setattr(owner, attribute, wrapped)

    class _Lines(list[Any]):
        """A stream's header lines (libcurl's callback appends each): the first marks ``head``."""

        record: dict[str, float] | None = None

        def append(self, line: Any) -> None:
            _mark("head", self.record)
            super().append(line)

    def _install() -> None:
        from uvicorn.protocols.http import httptools_impl as http

        from deepseek_free_api.upstream import bodies

        made = http.HttpToolsProtocol.connection_made

        def connection_made(self: Any, transport: Any) -> None:
            self.timeline_conn = _now()
            made(self, transport)

        headers_complete = http.HttpToolsProtocol.on_headers_complete

        def on_headers_complete(self: Any) -> None:
            headers_complete(self)  # makes the request's cycle and its task (not run yet)
            self.cycle.timeline = {"conn": getattr(self, "timeline_conn", _now())}

        message_complete = http.HttpToolsProtocol.on_message_complete

        def on_message_complete(self: Any) -> None:
            _mark("req", getattr(self.cycle, "timeline", None))
            message_complete(self)

        run_asgi = http.RequestResponseCycle.run_asgi

        async def on_run_asgi(self: Any, app: Any) -> None:
            record = getattr(self, "timeline", None)
            if record is not None:
                _record.set(record)  # this task's context: what the request's own tasks copy
            await run_asgi(self, app)

        made_body, body = bodies.StreamBody.__init__, bodies.StreamBody.body

        def new_body(self: Any, bound: int) -> None:
            made_body(self, bound)
            lines = _Lines()
            lines.record = _record.get()
            self.headers = lines

        def on_body(self: Any, chunk: bytes) -> int:
            record = getattr(self.headers, "record", None)
            if record is not None and "head" in record:
                _mark("body", record)
            return body(self, chunk)

        send = http.RequestResponseCycle.send

        async def on_send(self: Any, message: Any) -> None:
            record = getattr(self, "timeline", None)
            if record is not None:
                if message["type"] == "http.response.start":
                    _mark("wstart", record)
                elif message["type"] == "http.response.body" and message.get("body"):
                    _mark("write1", record)
                    if "marker" not in record and _MARKER in message["body"]:
                        record["marker"] = _now()
                        _records.append(record)
            await send(self, message)

        http.HttpToolsProtocol.connection_made = connection_made  # type: ignore[method-assign]
        http.HttpToolsProtocol.on_headers_complete = on_headers_complete  # type: ignore[method-assign]
        http.HttpToolsProtocol.on_message_complete = on_message_complete  # type: ignore[method-assign]
        http.RequestResponseCycle.run_asgi = on_run_asgi  # type: ignore[method-assign]
        bodies.StreamBody.__init__ = new_body  # type: ignore[method-assign]
        bodies.StreamBody.body = on_body  # type: ignore[method-assign]
        http.RequestResponseCycle.send = on_send  # type: ignore[method-assign]
        _wrap("deepseek_free_api.api.openai_chat", "chat_completions", "handler")
        _wrap("deepseek_free_api.chat.failover", "ChatRunner.run", "run")
        _wrap("deepseek_free_api.chat.failover", "ChatRunner._acquire", None, "leased")
        _wrap("deepseek_free_api.upstream.caller", "open_stream", "send")
        if os.environ.get("TIMELINE_DETAIL"):
            for module, qualname, start, end in (
                ("deepseek_free_api.api.auth", "CallerResolver.__call__", "auth", "authed"),
                ("deepseek_free_api.api.openai_chat", "read_json", None, "body_read"),
                ("deepseek_free_api.api.openai_models", "parse_chat_request", None, "parsed"),
                ("deepseek_free_api.api.edge", "TurnResponse.__call__", "response", None),
                ("deepseek_free_api.api.edge", "TurnResponse._produce", "producing", None),
                ("deepseek_free_api.stores.sqlite_file", "Database.write", "lease_txn", "lease_txn_done"),
                ("deepseek_free_api.chat.warm", "WarmAccounts.session", "session", None),
                ("deepseek_free_api.chat.warm", "WarmAccounts.pow_header", "pow", "pow_done"),
                ("deepseek_free_api.chat.generation", "Generation.request", "request", "opened"),
                ("deepseek_free_api.upstream.decoder", "StreamDecoder.feed", "decode", "decoded"),
                ("deepseek_free_api.api.edge", "ChannelSink.emit", "emit", None),
            ):
                _wrap(module, qualname, start, end)

    def _dump() -> None:
        with open(os.environ["TIMELINE_OUT"], "w") as out:
            json.dump(_records, out)

    _install()
    atexit.register(_dump)
