"""The admin page at ``/admin``: accounts, service keys and a playground, behind ``auth.admin_keys``.

Its routes (``routes.router_for``) are FastAPI's, built with the rest of ``api/documented.py`` on
the first request that needs them; this says at start-up whether the page is served.
"""

from __future__ import annotations

import logging

from deepseek_free_api.settings import Settings

log = logging.getLogger("deepseek_free_api.api.admin.routes")


def announce(settings: Settings) -> None:
    """Log whether ``/admin`` is served, and how to turn it on."""
    if not settings.auth.admin_keys:
        log.info("admin page: off; set auth.admin_keys (DEEPSEEK_FREE_API_AUTH_ADMIN_KEYS) to serve /admin")
        return
    log.info("admin page: /admin (log in with one of %d admin key(s))", len(settings.auth.admin_keys))
