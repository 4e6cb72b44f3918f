"""``/docs``: Swagger UI served from this server's own files, so it works without internet.

FastAPI's default page loads Swagger UI from a CDN (a blank page offline, and a third party told
of every visit). The files are swagger-ui-dist 5.35.0 (Apache-2.0, OpenAPI 3.1 support), kept in
``api/static/swagger-ui`` with their licence.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)

_ASSETS = files("deepseek_free_api.api") / "static" / "swagger-ui"
_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
_PREFIX = "/static/swagger-ui/"


@router.get("/docs")
async def docs() -> HTMLResponse:
    """The interactive documentation of ``/openapi.json``."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="deepseek-free-api – API documentation",
        swagger_js_url=_PREFIX + "swagger-ui-bundle.js",
        swagger_css_url=_PREFIX + "swagger-ui.css",
        swagger_favicon_url=_PREFIX + "favicon-32x32.png",
    )


@router.get(_PREFIX + "{name}")
async def asset(name: str) -> Response:
    """One of Swagger UI's files (cached by browsers for a day)."""
    media_type = _TYPES.get(name)
    if media_type is None:
        raise HTTPException(404, "Not Found")
    body = (_ASSETS / name).read_bytes()
    return Response(body, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})
