"""``deepseek-free-api serve``: settings, logging, the optional demo simulator, then uvicorn."""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from deepseek_free_api.config import AccountConfig, ConfigError, Settings, load_settings
from deepseek_free_api.logs import configure_logging
from deepseek_free_api.net.server import claim_port, close_all, guard_for, port_problem, uvicorn_options

log = logging.getLogger("deepseek_free_api")

DEMO_BANNER = """
  ┌──────────────────────────────────────────────────────────────────────┐
  │ DEMO MODE: answers come from the built-in DeepSeek simulator at      │
  │ {sim:<69}│
  │ No real DeepSeek account is used. Send the service key               │
  │   {key:<67}│
  │ (the README's examples use it) or no key at all. Try:                │
  │   curl {url:<62}│
  └──────────────────────────────────────────────────────────────────────┘
"""
# The key the README's examples send; demo mode accepts it so they run exactly as written.
DEMO_KEY = "sk-my-service-key"


def run(
    *,
    host: str | None,
    port: int | None,
    config: str | None,
    demo: bool,
    log_format: str | None = None,
    workers: int = 1,
    worker_fd: list[int] | None = None,
) -> int:
    """Load settings and serve until interrupted; returns the process exit code.

    ``workers`` > 1 runs that many processes sharing the state store (``workers.py``); each of
    them is this function again, given the inherited listening sockets as ``worker_fd``.
    """
    try:
        settings = load_settings(
            overrides={"host": host, "port": port, "demo": demo or None, "log_format": log_format},
            config_path=config,
        )
    except (ConfigError, OSError) as exc:
        print(f"deepseek-free-api: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.server.log_format)
    if workers != 1:
        from deepseek_free_api.workers import supervise

        return supervise(settings, workers, config=config, log_format=log_format)
    for warning in settings.warnings:
        log.warning("%s", warning)
    listen = settings.server
    try:
        if worker_fd is not None:  # one of `--workers N`: the supervisor's socket, already listening
            claimed = [socket.socket(fileno=fd) for fd in worker_fd]
        else:
            claimed = claim_port(listen.host, listen.port)  # before any banner or start: said first
    except OSError as exc:
        print(f"deepseek-free-api: {port_problem(listen.host, listen.port, exc)}", file=sys.stderr)
        return STARTUP_FAILURE
    guard = guard_for(settings.server)  # next: raises the open-file limit for all that follows
    with ExitStack() as stack:
        stack.callback(close_all, claimed)
        if settings.demo:
            settings = stack.enter_context(_demo(settings))
        elif not settings.accounts:
            log.info("no server-side accounts: callers must send their own DeepSeek token as the bearer")
        from deepseek_free_api.app import create_app  # imported late: keeps `--help` fast
        from deepseek_free_api.lifecycle import DrainingServer

        server_config = uvicorn.Config(
            create_app(settings),
            host=settings.server.host,
            port=settings.server.port,
            log_level=settings.log_level,
            # Our handler formats uvicorn's lines too (JSON stays JSON), and api/ops/access.py
            # writes the request line in place of uvicorn's access line.
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=5,
            # uvicorn would believe X-Forwarded-For from 127.0.0.1; server.trusted_proxies decides.
            proxy_headers=False,
            **uvicorn_options(guard, settings.server),
        )
        DrainingServer(server_config, guard, claimed).run()
    return 0


@contextmanager
def _demo(settings: Settings) -> Iterator[Settings]:
    """Run the simulator in-process; the settings point at it and use its demo accounts."""
    from deepseek_free_api.background import BackgroundServer
    from deepseek_free_api.simulator import SimulatorConfig, create_app

    config = SimulatorConfig.demo()
    # Named: its uvicorn lines stay out of the user's terminal below warnings, and say where
    # they come from when they do appear.
    with BackgroundServer(create_app(config), name="simulator", log_config=None) as simulator:
        demo = replace(
            settings,
            upstream=replace(settings.upstream, base_url=simulator.url),
            accounts=tuple(AccountConfig(token=a.token) for a in config.accounts if a.token),
            # Demo only: anyone on this machine may use the simulated accounts, with the README's
            # key or without a key; other bearers are refused like on a real server with keys.
            auth=replace(
                settings.auth,
                api_keys=tuple(dict.fromkeys((*settings.auth.api_keys, DEMO_KEY))),
                allow_anonymous=True,
            ),
            pool=replace(settings.pool, min_interval_s=0.0),
            # The simulated accounts' state is not worth keeping, nor mixing into a real data dir.
            store=replace(settings.store, url=settings.store.url or "memory://"),
        )
        url = f"http://{settings.server.host}:{settings.server.port}/v1/models"
        print(DEMO_BANNER.format(sim=simulator.url, url=url, key=DEMO_KEY), flush=True)
        yield demo
