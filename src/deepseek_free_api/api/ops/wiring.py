"""The operator's view, put into the application: ``GET /metrics``, ``GET /readyz`` and the access log.

The two routes are in ``api/routes.py``'s table, left out of the OpenAPI document: they are the
operator's, not part of the public API.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from deepseek_free_api.accounts import AccountPool
from deepseek_free_api.api.ops.access import AccessLog
from deepseek_free_api.api.ops.guard import OpsGuard
from deepseek_free_api.api.ops.labels import KeyLabels
from deepseek_free_api.api.ops.metrics import CONTENT_TYPE, Metrics
from deepseek_free_api.api.ops.readiness import readiness
from deepseek_free_api.settings import Settings


@dataclass(slots=True)
class Ops:
    """Metrics, caller labels and access rules of one application; ``pool`` is set by its lifespan."""

    metrics: Metrics
    keys: KeyLabels
    guard: OpsGuard
    caller_tokens: bool  # callers may send their own DeepSeek tokens (ready without server accounts)
    pool: AccountPool | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Ops:
        """Everything but the pool, from the settings."""
        auth = settings.auth
        return cls(
            metrics=Metrics(),
            keys=KeyLabels(auth.api_keys, auth.admin_keys),
            guard=OpsGuard(
                admin_keys=auth.admin_keys,
                service_keys=auth.api_keys,
                public=settings.server.public_metrics,
            ),
            caller_tokens=not auth.api_keys or auth.caller_tokens,
        )


def install(app: Starlette, settings: Settings) -> Ops:
    """Add the access log (outermost: refused requests are logged too); ``app.state.ops`` for the routes."""
    ops = Ops.from_settings(settings)
    app.state.ops = ops
    app.add_middleware(AccessLog, metrics=ops.metrics, keys=ops.keys)
    return ops


def ops_of(request: Request) -> Ops:
    """The application's Ops, after checking that this request may read them."""
    ops: Ops = request.app.state.ops
    ops.guard.check(request)
    return ops


async def metrics(request: Request) -> Response:
    """Prometheus metrics in the text format."""
    ops = ops_of(request)
    return Response(await ops.metrics.render(ops.pool), media_type=CONTENT_TYPE)


async def readyz(request: Request) -> JSONResponse:
    """200 when an account can serve now; 503 with every account's reason otherwise."""
    ops = ops_of(request)
    accounts = await ops.pool.snapshot() if ops.pool is not None else []
    ready, body = readiness(accounts, caller_tokens=ops.caller_tokens)
    return JSONResponse(body, status_code=200 if ready else 503)
