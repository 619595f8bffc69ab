"""The facegate app: ``app.main:app``, built by ``create_app()``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.api.limits import BodySizeLimit
from app.api.routes import health, politicians, verify
from app.config import MIB, Settings, get_settings
from app.errors import ReferenceSetError, install_error_handlers
from app.faces.engine import EngineConfig
from app.faces.intake import Limits
from app.faces.pool import FacePool
from app.faces.references import EncodingCache
from app.faces.service import FaceService

log = logging.getLogger("app")

# Multipart framing and form fields around the largest accepted upload.
BODY_OVERHEAD_BYTES = 1 * MIB


def build_face_service(settings: Settings) -> FaceService:
    config = EngineConfig(
        detect_max_side=settings.detect_max_side,
        encode_max_side=settings.encode_max_side,
        min_detection_score=settings.min_detection_score,
    )
    limits = Limits(
        max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_image_pixels,
        max_side=settings.encode_max_side,
    )
    pool = FacePool(config=config, limits=limits, workers=settings.workers)
    return FaceService(
        pool=pool,
        reference_dir=settings.reference_dir,
        cache=EncodingCache(settings.reference_cache_dir, config.cache_key_fields()),
        default_tolerance=settings.tolerance,
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    if settings.operator_api_key is None:
        log.warning("FACEGATE_OPERATOR_API_KEY is not set: operator endpoints are open")
    faces = build_face_service(settings)
    app.state.faces = faces
    try:
        await faces.pool.warm_up()
        try:
            await faces.reload()
        except ReferenceSetError:
            pass  # /readyz reports it; the service keeps answering and queueing
        yield
    finally:
        faces.pool.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="facegate",
        version="0.1.0",
        summary="Moderates face uploads: one face, and the named politician, or the upload is rejected.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes + BODY_OVERHEAD_BYTES)
    for module in (health, verify, politicians):
        app.include_router(module.router)
    return app


app = create_app()
