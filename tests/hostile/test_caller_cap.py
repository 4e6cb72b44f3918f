"""The caller-account cap is a hard cap: no mix of requests registers more caller accounts than it.

Without service keys, a bearer is the caller's own DeepSeek token, and every new token becomes an
account in the pool. The pool keeps at most ``auth.max_caller_accounts`` of them: an idle one is
evicted least recently used first, a leased or awaited one never; when none can go, the request
is refused at once (429 with ``Retry-After``), before anything is registered. Measured on the base
code: 16 concurrent requests with their own tokens against a cap of 4 registered 16 accounts
(one request once registered 4,000 against a cap of 1,000).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from deepseek_free_api.background import BackgroundServer, free_port
from deepseek_free_api.config import env_name
from deepseek_free_api.simulator import create_app as create_simulator
from tests.api.conftest import simulator_config
from tests.ops.support import scrape, value
from tests.support.processes import CLI, Running, clean_env, running

CAP = 4
CALLERS = 16
TOKENS = [f"tok-caller-{i:02d}" for i in range(CALLERS + CAP)]
# Slow enough that the first wave's requests all overlap: every registered account stays leased.
SLOW = {"first_token_ms": 3000}


@dataclass
class Stack:
    """The simulator (one account per caller token) and `serve` using callers' own tokens."""

    simulator: BackgroundServer
    server: Running


@contextmanager
def caller_stack() -> Iterator[Stack]:
    accounts = [{"id": f"caller-{i:02d}", "token": token} for i, token in enumerate(TOKENS)]
    with BackgroundServer(create_simulator(simulator_config(accounts=accounts, pacing=SLOW))) as simulator:
        port = free_port()
        env = clean_env(
            DEEPSEEK_BASE_URL=simulator.url,
            **{env_name("pool.min_interval_s"): "0", env_name("auth.max_caller_accounts"): str(CAP)},
        )
        with running([*CLI, "serve", "--port", str(port)], port, env=env) as server:
            yield Stack(simulator, server)


def chat(url: str, token: str) -> httpx.Response:
    body = {"model": "deepseek-chat", "messages": [{"role": "user", "content": "hello"}]}
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=60)


class CallerAccountWatch:
    """Reads the pool's caller accounts from ``/metrics`` all the while; keeps the highest count."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.highest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _read(self) -> None:
        count = value(scrape(self.url), "deepseek_free_api_accounts", source="caller")
        self.highest = max(self.highest, count)

    def _watch(self) -> None:
        while not self._stop.is_set():
            self._read()
            self._stop.wait(0.05)

    def __enter__(self) -> CallerAccountWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._read()


def test_concurrent_callers_never_push_the_pool_past_its_cap() -> None:
    with caller_stack() as stack:
        url = stack.server.url
        with CallerAccountWatch(url) as watch:
            with ThreadPoolExecutor(CALLERS) as pool:
                first_wave = list(pool.map(lambda token: chat(url, token), TOKENS[:CALLERS]))
        statuses = [r.status_code for r in first_wave]
        assert watch.highest <= CAP, f"{watch.highest:g} caller accounts under a cap of {CAP}: {statuses}"
        assert set(statuses) <= {200, 429}, [r.text for r in first_wave if r.status_code not in (200, 429)]
        assert statuses.count(200) >= CAP, statuses  # the cap's worth of callers is served
        for refused in (r for r in first_wave if r.status_code == 429):
            assert float(refused.headers["Retry-After"]) > 0
            assert "auth.max_caller_accounts" in refused.json()["error"]["message"]

        # Once those are idle, new callers take their places (least recently used first).
        time.sleep(0.5)
        with CallerAccountWatch(url) as watch:
            later = [chat(url, token) for token in TOKENS[CALLERS:]]
        assert [r.status_code for r in later] == [200] * CAP, [r.text for r in later]
        assert watch.highest <= CAP
