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


@router.get(
    "/readyz",
    responses={
        503: {
            "model": ErrorResponse,
            "description": "facegate cannot moderate now; `error.code` says why: `nocodb_unreachable`,"
            " `nocodb_token_refused`, `table_not_found`, `column_missing`, `references_empty`, or"
            " `not_ready` (the references not loaded, a background task stopped).",
        }
    },
)
async def readyz(faces: FaceServiceDep, runtime: RuntimeDep) -> Readiness:
    """facegate can moderate: references loaded, tasks running, NocoDB's table and columns there."""
    runtime.check_ready()
    references = faces.references
    return Readiness(politicians=len(references.politicians), reference_photos=len(references.matrix))
