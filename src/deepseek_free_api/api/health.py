"""``GET /healthz``: the process is up and answering; no key, no upstream call, no account needed.

What container engines, Render and supervisors probe. Whether an account can serve now is a
different question (readiness), answered elsewhere.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel
from starlette.responses import JSONResponse


class Health(BaseModel):
    """``GET /healthz`` answer."""

    status: Literal["ok"]


async def healthz() -> JSONResponse:
    """Liveness: 200 ``{"status": "ok"}`` while the process serves requests (``HEAD`` too)."""
    return JSONResponse({"status": "ok"})
