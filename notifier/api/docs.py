"""/docs: the API's reference page, with Swagger UI served from this server.

FastAPI's own /docs and /redoc load their scripts from a public CDN, which an offline
installation cannot reach (and which would run a third party's script next to the API's
description). The files here come from the `swagger-ui-bundle` package; /redoc is not
offered. /openapi.json is FastAPI's.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)

_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
_VENDOR = "vendor/swagger-ui-4.15.5"


@router.get("/docs", response_class=HTMLResponse)
async def docs() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="notifier: API reference",
        swagger_js_url="/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/docs/assets/swagger-ui.css",
        swagger_favicon_url="/docs/assets/favicon-32x32.png",
        oauth2_redirect_url=None,
    )


@router.get("/docs/assets/{name}")
async def asset(name: str) -> Response:
    if name not in _ASSETS:
        raise HTTPException(404, "no such file")
    body = files("swagger_ui_bundle").joinpath(_VENDOR, name).read_bytes()
    return Response(
        body, media_type=_ASSETS[name], headers={"Cache-Control": "public, max-age=86400"}
    )
