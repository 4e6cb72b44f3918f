"""A remote file over ``files.max_bytes`` is refused after about the limit's bytes, not downloaded.

curl_cffi's ``Response.aclose`` reads the rest of a streamed body before it returns: a server
that refused a 400 MiB file over a 1 MiB limit still received all 400 MiB first and held them in
memory (measured 2026-12). The site here counts what it managed to send; the fetch runs in its
own process (``tests.hostile.remote_fetch``) so that its peak memory is its own.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from tests.support.processes import REPO, clean_env

MiB = 1024 * 1024
LIMIT = 1 * MiB
HUGE = 400 * MiB  # what the site offers: far more than any socket buffer can hide
CHUNK = 256 * 1024
# Loopback socket buffers on both sides can absorb a few MB the fetcher never read.
SENT_BOUND = LIMIT + 16 * MiB
RSS_GROWTH_BOUND_MB = 48.0


class HugeSite:
    """A loopback HTTP site that answers one request with a huge body; counts the body bytes it sent."""

    def __init__(self, *, status: int, declared: bool, pause_s: float) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.status, self.declared, self.pause_s = status, declared, pause_s
        self.sent = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            connection, _ = self.listener.accept()
        except OSError:
            return
        with connection:
            connection.recv(65536)
            head = f"HTTP/1.1 {self.status} X\r\nContent-Type: application/octet-stream\r\n"
            head += f"Content-Length: {HUGE}\r\n" if self.declared else "Connection: close\r\n"
            try:
                connection.sendall(head.encode() + b"\r\n")
                chunk = b"\0" * CHUNK
                while self.sent < HUGE and not self.stop.is_set():
                    connection.sendall(chunk)
                    self.sent += len(chunk)
                    if self.pause_s:
                        time.sleep(self.pause_s)
            except OSError:
                pass  # the fetcher hung up: what it took is counted

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        self.thread.join(30)


def fetch_in_own_process(url: str) -> dict[str, object]:
    """What ``tests.hostile.remote_fetch`` reports for ``url`` under the 1 MiB limit."""
    completed = subprocess.run(
        [sys.executable, "-m", "tests.hostile.remote_fetch", url, str(LIMIT), "30"],
        cwd=REPO,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, object] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture
def site(request: pytest.FixtureRequest) -> Iterator[HugeSite]:
    running = HugeSite(**request.param)
    yield running
    running.close()


CASES = [
    {"status": 200, "declared": True, "pause_s": 0.0},  # Content-Length says 400 MiB: refused on sight
    {"status": 200, "declared": False, "pause_s": 0.0},  # no length, as fast as loopback goes
    {"status": 200, "declared": False, "pause_s": 0.02},  # no length, slowly (~12 MB/s)
    {"status": 404, "declared": False, "pause_s": 0.0},  # an error page that never ends
]


@pytest.mark.parametrize("site", CASES, indirect=True, ids=["declared", "unsized", "slow", "error-page"])
def test_a_huge_remote_body_is_cut_off_near_the_limit(site: HugeSite) -> None:
    result = fetch_in_own_process(f"http://127.0.0.1:{site.port}/big.bin")
    time.sleep(0.5)  # anything still in flight reaches the count
    if site.status == 200:
        assert (result["outcome"], result["code"]) == ("PayloadTooLargeError", None), result
        assert "files.max_bytes" in str(result["message"])
    else:
        assert (result["outcome"], result["code"]) == ("RequestError", "url_fetch_failed"), result
    assert float(str(result["seconds"])) < 10, result  # base: the whole body first, or the 30 s limit
    assert site.sent <= SENT_BOUND, f"the site sent {site.sent / MiB:.0f} MiB for a 1 MiB limit"
    growth = float(str(result["rss_peak_mb"])) - float(str(result["rss_before_mb"]))
    assert growth < RSS_GROWTH_BOUND_MB, result
