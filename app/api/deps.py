"""FastAPI dependencies, as ``Annotated`` aliases the routes use.

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in a thread pool, and a
thread hop costs more than any of these lookups.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Request

from app.api.ratelimit import RateLimiter
from app.assembly import Runtime
from app.carousel.service import Carousel
from app.config import Settings
from app.errors import Unauthorized
from app.faces.service import FaceService


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_face_service(runtime: RuntimeDep) -> FaceService:
    return runtime.faces


FaceServiceDep = Annotated[FaceService, Depends(get_face_service)]


def secret_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison, for timing attack prevention."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


async def require_operator(
    settings: SettingsDep,
    x_api_key: Annotated[str | None, Header(description="The operator key, when one is configured.")] = None,
) -> None:
    """Operator endpoints: open when ``FACEGATE_OPERATOR_API_KEY`` is unset, else the key must match."""
    key = settings.operator_api_key
    if key is not None and not secret_matches(x_api_key, key.get_secret_value()):
        raise Unauthorized("A valid X-API-Key header is required.")


OperatorDep = Depends(require_operator)


async def limit_verify_rate(request: Request) -> None:
    """Per client address; behind a proxy, run uvicorn with --proxy-headers so this is the real client."""
    limiter: RateLimiter = request.app.state.verify_limiter
    limiter.check(request.client.host if request.client else "unknown")


VerifyRateDep = Depends(limit_verify_rate)


async def get_carousel(runtime: RuntimeDep) -> Carousel:
    return runtime.carousel


CarouselDep = Annotated[Carousel, Depends(get_carousel)]
