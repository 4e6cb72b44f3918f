"""Vercel's entry point: its Python runtime imports this file and serves the module-level ``app``.

The one module that builds the application when it is imported, because Vercel's runtime loads an
ASGI app from a module variable; the package itself loads nothing at import (``serve`` builds it
in ``cli``). Settings come from the project's environment variables, as for ``serve``; the runtime
runs the app's lifespan (uvicorn, ``lifespan="auto"``). README, "Deploying it": what a function's
duration limit cuts.
"""

from __future__ import annotations

import logging
import os

from deepseek_free_api.app import create_app
from deepseek_free_api.config import load_settings

# vercel.json's maxDuration for this function: Vercel stops the function then, mid-answer.
MAX_DURATION_S = 300
# Defaults for a function, under the project's own environment variables:
VERCEL_DEFAULTS = {
    # End a request with the server's own 504 / error event, which also stops DeepSeek's generation
    # and frees the account, before Vercel kills the function (which would leave both running).
    "DEEPSEEK_FREE_API_SERVER_REQUEST_TIMEOUT_S": str(MAX_DURATION_S - 15),
    # The file system is read-only but for /tmp, which goes with the instance: state lives in a
    # Redis named by DEEPSEEK_FREE_API_STORE_URL (redis://...), or nowhere (this instance's memory).
    "DEEPSEEK_FREE_API_STORE_URL": "memory://",
}

settings = load_settings(env={**VERCEL_DEFAULTS, **os.environ})
logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
for warning in settings.warnings:
    logging.getLogger("deepseek_free_api").warning("%s", warning)
app = create_app(settings)
