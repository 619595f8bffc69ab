from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import OPERATOR_ERRORS, FaceServiceDep, OperatorDep, PoliticianFilterDep, RuntimeDep
from app.api.schemas import PoliticianOut
from app.errors import ErrorResponse

router = APIRouter(tags=["politicians"])


@router.get(
    "/politicians",
    responses={
        404: {"model": ErrorResponse, "description": "`unknown_politician`: no politician has that name."},
        503: {"model": ErrorResponse},
    },
)
async def list_politicians(faces: FaceServiceDep, slug: PoliticianFilterDep) -> list[PoliticianOut]:
    """The public profiles of the politicians uploads may name (or of the one named)."""
    profiles = PoliticianOut.all(faces.references)
    return profiles if slug is None else [p for p in profiles if p.slug == slug]


@router.post(
    "/politicians/reload",
    dependencies=[OperatorDep],
    responses={**OPERATOR_ERRORS, 500: {"model": ErrorResponse}},
)
async def reload_politicians(runtime: RuntimeDep) -> list[PoliticianOut]:
    """Re-read ``reference_faces/`` and retry held rows (operator); on error the previous set stays in use."""
    return PoliticianOut.all(await runtime.reload_politicians())
