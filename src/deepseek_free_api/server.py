"""``deepseek-free-api serve``: settings, logging, the optional demo simulator, then uvicorn."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from typing import Any

import uvicorn

from deepseek_free_api.config import ConfigError, Settings, load_settings

log = logging.getLogger("deepseek_free_api")

DEMO_BANNER = """
  ┌──────────────────────────────────────────────────────────────────────┐
  │ DEMO MODE: answers come from the built-in DeepSeek simulator at      │
  │ {sim:<69}│
  │ No real DeepSeek account is used. Try:                               │
  │   curl {url:<62}│
  └──────────────────────────────────────────────────────────────────────┘
"""


def run(*, host: str | None, port: int | None, config: str | None, demo: bool) -> int:
    """Load settings and serve until interrupted; returns the process exit code."""
    try:
        settings = load_settings(
            overrides={"host": host, "port": port, "demo": demo or None}, config_path=config
        )
    except (ConfigError, OSError) as exc:
        print(f"deepseek-free-api: configuration error: {exc}")
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for warning in settings.warnings:
        log.warning("%s", warning)
    with ExitStack() as stack:
        if settings.demo:
            settings = stack.enter_context(_demo(settings))
        elif not settings.accounts:
            log.info("no server-side accounts: callers must send their own DeepSeek token as the bearer")
        from deepseek_free_api.app import create_app  # imported late: keeps `--help` fast

        uvicorn.run(
            create_app(settings),
            host=settings.server.host,
            port=settings.server.port,
            log_level=settings.log_level,
            timeout_graceful_shutdown=5,
        )
    return 0


class _demo:  # noqa: N801 - used as a context manager factory
    """Run the simulator in-process and point the settings at it, with its demo accounts."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._server: Any = None

    def __enter__(self) -> Settings:
        from deepseek_free_api.background import BackgroundServer
        from deepseek_free_api.simulator import SimulatorConfig, create_app

        config = SimulatorConfig.demo()
        self._server = BackgroundServer(create_app(config)).start()
        tokens = [account.token for account in config.accounts if account.token]
        server = self._settings.server
        overrides: dict[str, Any] = {
            "base_url": self._server.url,
            "tokens": tokens,
            "host": server.host,
            "port": server.port,
            # Demo only: anyone on this machine may use the simulated accounts without a key.
            "allow_anonymous": True,
            "min_interval_s": 0.0,
        }
        settings = load_settings(overrides=overrides, env={})
        url = f"http://{server.host}:{server.port}/v1/models"
        print(DEMO_BANNER.format(sim=self._server.url, url=url))
        return settings

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
