from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import FaceServiceDep, ModerationDep
from app.api.schemas import Health, Readiness
from app.errors import ErrorResponse, NotReady

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> Health:
    """The process answers."""
    return Health()


@router.get("/readyz", responses={503: {"model": ErrorResponse}})
async def readyz(faces: FaceServiceDep, moderation: ModerationDep) -> Readiness:
    """The reference faces are loaded, images can be verified, and the moderation loop runs."""
    references = faces.references
    if moderation.runner is not None and not moderation.runner.alive:
        raise NotReady("The moderation queue runner is not running.")
    return Readiness(politicians=len(references.politicians), reference_photos=len(references.matrix))
