"""``create_app()``: the FastAPI app the plugin mounts at /batch-monitor.

It serves the operators' page (``/``, ``/static/...``: plain HTML, CSS and JS modules, no CDN) and the
JSON API (``/api/v1/...``, OpenAPI at ``/api/v1/openapi.json``). The page itself holds no data;
every data endpoint needs an Airflow token, which the browser sends as the UI's ``_token``
cookie when the page runs inside Airflow (Browse → Batch Monitor).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.staticfiles import PathLike
from starlette.types import Scope

from batch_monitor.api.db import store_error_handler
from batch_monitor.api.errors import validation_error_handler
from batch_monitor.api.metrics import router as metrics_router
from batch_monitor.api.routes import router
from batch_monitor.api.silences import router as silences_router

STATIC_DIR = Path(__file__).resolve().parent / "static"


# The page loads only its own files and talks only to its own API.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


class _StaticFiles(StaticFiles):
    """Static assets that browsers revalidate, so an upgrade shows at once."""

    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def page_assets() -> list[Path]:
    """The page's stylesheet and its ES modules (js/main.js imports the others, same origin)."""
    return [STATIC_DIR / "app.css", *sorted((STATIC_DIR / "js").glob("*.js"))]


def _asset_version() -> str:
    digest = hashlib.sha256()
    for path in page_assets():
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _index_html() -> str:
    # main.js imports the other modules by plain relative URLs: fetched at once (not after main.js),
    # under those same URLs
    preloads = "\n  ".join(
        f'<link rel="modulepreload" href="static/js/{path.name}">'
        for path in page_assets()
        if path.suffix == ".js" and path.name != "main.js"
    )
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    page = page.replace("<!-- __MODULE_PRELOADS__ -->", preloads)
    return page.replace("__ASSET_VERSION__", _asset_version())


def create_app() -> FastAPI:
    """The Batch Monitor app: page + JSON API. Touches no database until a request needs it."""
    app = FastAPI(
        title="Batch Monitor",
        summary="CC&B batch chains against their SLAs: timeline, alerts, run history, health.",
        description=(
            "Every endpoint needs an Airflow JWT: `Authorization: Bearer <token>` (get one with "
            "`POST /auth/token`) or the Airflow UI's session cookie. Acknowledging and resolving "
            "alerts needs edit access to the workflow's DAG `batch_monitor_<workflow_id>`. Times are "
            "UTC (ISO 8601); each workflow names its time zone."
        ),
        version="1",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # FastAPI's Swagger page loads its scripts from a CDN: no use offline
        redoc_url=None,
    )
    app.include_router(router)
    app.include_router(metrics_router)  # GET /metrics: Prometheus / OpenMetrics text
    app.include_router(silences_router)
    app.add_exception_handler(sa.exc.DBAPIError, store_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    page = _index_html()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page, headers=PAGE_HEADERS)

    app.mount("/static", _StaticFiles(directory=STATIC_DIR), name="static")
    return app


__all__ = ["create_app", "page_assets"]
