"""The facegate app: ``app.main:app``, built by ``create_app()``.

Importing this module reads no settings and configures no logging: ``app`` is built on first use
(``uvicorn app.main:app`` asks for it when it loads the app), so that tests, scripts and the command
line can import ``create_app`` with settings of their own.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles

from app import logs
from app.api.body_limit import BodySizeLimit
from app.api.client_address import ClientAddresses
from app.api.head import HeadAsGet
from app.api.headers import SecurityHeaders
from app.api.ratelimit import CredentialGuard, RateLimiter
from app.api.routes import (
    approved,
    decisions,
    health,
    metrics,
    politicians,
    review,
    site,
    verify,
    webhooks,
)
from app.api.timing import RequestTiming
from app.assembly import assemble
from app.config import MIB, PROJECT_ROOT, Settings, get_settings
from app.errors import install_error_handlers

# Multipart framing and form fields around the largest accepted upload.
BODY_OVERHEAD_BYTES = 1 * MIB


log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    _log_access(app.state.settings)
    async with assemble(app.state.settings, nocodb_transport=app.state.nocodb_transport) as runtime:
        app.state.runtime = runtime
        yield


def _log_access(settings: Settings) -> None:
    """Say at start-up who may use the operator endpoints and /metrics."""
    if settings.operator_api_key is None and settings.operator_endpoints_open:
        log.warning(
            "FACEGATE_OPERATOR_ENDPOINTS_OPEN=true: /verify, /decisions, /jobs and /politicians/reload"
            " answer anyone who can reach this port; for local use only"
        )
    elif settings.operator_api_key is None:
        log.warning("FACEGATE_OPERATOR_API_KEY is not set: the operator endpoints refuse every request")
    if settings.metrics_public:
        log.warning("FACEGATE_METRICS_PUBLIC=true: /metrics answers anyone who can reach this port")


def _declare_error_shape(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI documents its own 422 body; facegate answers every error in ``ErrorResponse``."""
    components = schema["components"]["schemas"]
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for path in schema["paths"].values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {}).get("application/json", {})
                if content.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
                    content["schema"] = {"$ref": "#/components/schemas/ErrorResponse"}
                    response["description"] = (
                        "Validation Error" if status == "422" else response["description"]
                    )
    return schema


def _private_roots(settings: Settings) -> list[Path]:
    folders = [settings.reference_dir, settings.data_dir, settings.nocodb_uploads_dir, PROJECT_ROOT]
    roots = [folder for folder in folders if folder is not None]
    return roots + [folder.resolve() for folder in roots]


def create_app(
    settings: Settings | None = None, *, nocodb_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """The app; tests pass their own settings and, for a fake NocoDB, an httpx transport."""
    settings = settings or get_settings()
    logs.configure(settings.log_format)
    app = FastAPI(
        title="facegate",
        version="0.1.0",
        summary="Moderates face uploads: one face, and the named politician, or the upload is rejected.",
        lifespan=lifespan,
        # FastAPI's /docs and /redoc pages load their scripts from a CDN: the API is described by
        # /openapi.json (and openapi.yaml in the repository) instead.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.nocodb_transport = nocodb_transport
    app.state.client_addresses = ClientAddresses(settings.trusted_proxies)
    app.state.verify_limiter = RateLimiter(settings.verify_rate_per_minute)
    app.state.credential_guard = CredentialGuard(settings.auth_failures_per_minute)
    # Folders whose absolute paths answers show from their own name on (app.errors.hide_paths).
    app.state.private_roots = _private_roots(settings)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes + BODY_OVERHEAD_BYTES)
    if settings.cors_origins:
        # The campaign's own site may read the carousel data; nothing else crosses origins.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "HEAD"],
            allow_headers=["If-None-Match"],
            expose_headers=["ETag", "Last-Modified"],
            max_age=600,
        )
    app.add_middleware(GZipMiddleware, minimum_size=1024)  # /approved pages shrink about 8x
    app.add_middleware(HeadAsGet)  # outside gzip: a HEAD's Content-Length is the GET's
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestTiming)
    for module in (health, verify, politicians, webhooks, decisions, approved, site, metrics, review):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=site.STATIC_DIR), name="static")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            schema["components"]["schemas"].update(webhooks.openapi_schemas())
            app.openapi_schema = _declare_error_shape(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


@functools.cache
def _default_app() -> FastAPI:
    return create_app()


def __getattr__(name: str) -> Any:
    """``app.main:app``, the contract uvicorn and the image rely on, built from the environment's
    settings the first time it is asked for."""
    if name == "app":
        return _default_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
