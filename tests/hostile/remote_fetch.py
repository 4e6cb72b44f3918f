"""One remote fetch in a process of its own, as ``serve`` does it, for measuring what it costs.

``python -m tests.hostile.remote_fetch URL MAX_BYTES TIMEOUT_S`` prints one JSON line: the
outcome (``ok``, or the error's class and code), the seconds it took, and the process's peak
resident memory (``VmHWM``) before and after. The fetcher is the server's own (``RemoteFetcher``
with the limits ``files.max_bytes`` and ``files.fetch_timeout_s`` would give it); only its address
policy lets loopback through, where the test's site listens (``serve`` refuses loopback).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from deepseek_free_api.chat.addresses import IPAddress
from deepseek_free_api.chat.remote import RemoteFetcher
from deepseek_free_api.errors import RequestError

PARAM = "messages.0.content.0.image_url.url"


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _loopback(address: IPAddress) -> bool:
    return address.is_loopback


async def _fetch(url: str, max_bytes: int, timeout_s: float) -> dict[str, object]:
    fetcher = RemoteFetcher(max_bytes=max_bytes, timeout_s=timeout_s, address_allowed=_loopback)
    try:
        fetched = await fetcher.fetch(url, PARAM)
    except RequestError as exc:
        return {"outcome": type(exc).__name__, "code": exc.code, "message": exc.message}
    return {"outcome": "ok", "bytes": len(fetched.data)}


def main(argv: list[str]) -> None:
    """Fetch ``argv[0]`` with the limits ``argv[1:3]`` and print what happened, as JSON."""
    url, max_bytes, timeout_s = argv[0], int(argv[1]), float(argv[2])
    before = peak_rss_mb()
    started = time.monotonic()
    result = asyncio.run(_fetch(url, max_bytes, timeout_s))
    result |= {"seconds": time.monotonic() - started, "rss_before_mb": before, "rss_peak_mb": peak_rss_mb()}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
