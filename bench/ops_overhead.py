"""What metrics and the request log add per request, measured in-process (CPU microseconds).

End-to-end loops (bench/request_cost.py) cannot resolve a few microseconds on a shared machine,
so the added parts are timed alone, each against the same path without them:

- ``AccessLog`` around a bare ASGI endpoint: the record, labels, metrics, and the log line
  (to /dev/null, in the text and JSON formats, and with the line below the log level);
- uvicorn's own access line, which ``serve`` no longer writes, for comparison;
- the wrappers around the failover loop, the pool and the warm accounts, and the client's
  ``on_call`` hook (about three calls per request: the completion and two refills).

    .venv/bin/python bench/ops_overhead.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from uvicorn.logging import AccessFormatter

from deepseek_free_api.api.ops.access import AccessLog
from deepseek_free_api.api.ops.labels import KeyLabels
from deepseek_free_api.api.ops.meters import MeteredLeases, MeteredRunner, TimedWarmth
from deepseek_free_api.api.ops.metrics import Metrics
from deepseek_free_api.api.ops.record import RequestRecord, current_request
from deepseek_free_api.chat.models import parse_model
from deepseek_free_api.logs import TEXT_FORMAT, JsonFormatter

KEY = "sk-bench-overhead-key"


class _Route:
    path = "/v1/chat/completions"


async def _endpoint(scope: Any, receive: Any, send: Any) -> None:
    record = current_request.get()
    if record is not None:
        record.model, record.account, record.first_event = "deepseek-v4-flash", "acct-0123456789ab", 0.0
    scope["route"] = _Route
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def _scope() -> dict[str, Any]:
    headers = [(b"authorization", f"Bearer {KEY}".encode()), (b"content-type", b"application/json")]
    return {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "http_version": "1.1",
        "client": ("127.0.0.1", 50000),
        "headers": headers,
    }


async def _ignore(message: Any) -> None:
    pass


async def _receive() -> dict[str, Any]:
    return {"type": "http.request"}


async def per_call_us(call: Callable[[], Awaitable[object]], calls: int) -> float:
    """Best of three runs, CPU microseconds per call."""
    for _ in range(calls // 10):
        await call()
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        for _ in range(calls):
            await call()
        best = min(best, (time.process_time() - started) / calls * 1e6)
    return best


def _log_to_devnull(formatter: logging.Formatter, level: str) -> None:
    handler = logging.StreamHandler(open("/dev/null", "w"))  # lives as long as the run
    handler.setFormatter(formatter)
    logging.basicConfig(level=level, handlers=[handler], force=True)


async def access_log(calls: int) -> None:
    wrapped = AccessLog(_endpoint, metrics=Metrics(), keys=KeyLabels([KEY]))
    bare = await per_call_us(lambda: _endpoint(_scope(), _receive, _ignore), calls)
    for name, formatter, level in (
        ("text", logging.Formatter(TEXT_FORMAT), "INFO"),
        ("json", JsonFormatter(), "INFO"),
        ("no line (log level warning)", logging.Formatter(TEXT_FORMAT), "WARNING"),
    ):
        _log_to_devnull(formatter, level)
        cost = await per_call_us(lambda: wrapped(_scope(), _receive, _ignore), calls) - bare
        print(f"AccessLog, {name}: +{cost:.1f} us/request")
    uvicorn = logging.getLogger("bench.uvicorn.access")
    uvicorn.propagate = False
    uvicorn.setLevel(logging.INFO)
    handler = logging.StreamHandler(open("/dev/null", "w"))
    handler.setFormatter(
        AccessFormatter('%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s')
    )
    uvicorn.addHandler(handler)

    async def uvicorn_line() -> None:
        uvicorn.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:50000", "POST", "/v1/chat/completions", "1.1", 200)

    print(
        f"uvicorn's access line (no longer written by serve): {await per_call_us(uvicorn_line, calls):.1f} us"
    )


class _Account:
    id = "acct-0123456789ab"


class _Lease:
    account = _Account()


class _Core:
    """Stand-ins for the pool, the warm accounts and the failover loop: no work of their own."""

    async def acquire(self, **options: Any) -> _Lease:
        return _Lease()

    async def report(self, lease: Any, error: Any) -> None:
        pass

    async def release(self, lease: Any) -> None:
        pass

    async def pow_header(self, account_id: str, identity: Any, target_path: str) -> str:
        return "answer"

    async def run(self, request: Any, caller: Any, sink: Any) -> None:
        pass


async def wrappers(calls: int) -> None:
    current_request.set(RequestRecord(0.0))
    metrics, core, request = Metrics(), _Core(), type("Request", (), {"model": parse_model("deepseek-chat")})
    leases: Any = MeteredLeases(core, metrics)  # type: ignore[arg-type]
    warmth: Any = TimedWarmth(core, metrics)  # type: ignore[arg-type]
    runner: Any = MeteredRunner(core)  # type: ignore[arg-type]

    async def turn(pool: Any, warm: Any, run: Any) -> None:
        await run.run(request, None, None)
        lease = await pool.acquire(candidates=None, prefer=None, require=False, exclude=(), owner="o")
        await warm.pow_header(lease.account.id, None, "/api/v0/chat/completion")
        await pool.report(lease, None)
        await pool.release(lease)

    bare = await per_call_us(lambda: turn(core, core, core), calls)
    added = await per_call_us(lambda: turn(leases, warmth, runner), calls) - bare
    print(f"wrappers (runner, leases, PoW wait): +{added:.1f} us/request")

    async def upstream_call() -> None:
        metrics.upstream_call("/chat/completion", None)

    print(f"on_call per upstream call: +{await per_call_us(upstream_call, calls):.1f} us")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    asyncio.run(access_log(args.calls))
    asyncio.run(wrappers(args.calls))


if __name__ == "__main__":
    main()
