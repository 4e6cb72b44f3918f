"""``GET /healthz``: the process is up and answering; no key, no upstream call, no account needed.

What container engines, Render and supervisors probe. Whether an account can serve now is a
different question (readiness), answered elsewhere.
"""

from __future__ import annotations

from starlette.responses import JSONResponse


async def healthz() -> JSONResponse:
    """Liveness: 200 ``{"status": "ok"}`` while the process serves requests (``HEAD`` too)."""
    return JSONResponse({"status": "ok"})
