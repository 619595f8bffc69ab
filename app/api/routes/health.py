from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import FaceServiceDep, RuntimeDep
from app.api.schemas import Health, Readiness
from app.errors import ErrorResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> Health:
    """The process answers."""
    return Health()


@router.get("/readyz", responses={503: {"model": ErrorResponse}})
async def readyz(faces: FaceServiceDep, runtime: RuntimeDep) -> Readiness:
    """The reference faces are loaded, images can be verified, and the moderation loop runs."""
    references = faces.references
    runtime.check_running()
    return Readiness(politicians=len(references.politicians), reference_photos=len(references.matrix))
