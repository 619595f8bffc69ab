from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import FaceServiceDep, OperatorDep
from app.api.schemas import PoliticianOut
from app.errors import ErrorResponse
from app.faces.references import ReferenceSet

router = APIRouter(tags=["politicians"])


def _profiles(references: ReferenceSet) -> list[PoliticianOut]:
    return [
        PoliticianOut(
            slug=p.slug,
            name=p.profile.name,
            role=p.profile.role,
            country=p.profile.country,
            description=p.profile.description,
            reference_photos=references.matrix.count(p.slug),
        )
        for p in references.politicians.values()
    ]


@router.get("/politicians", responses={503: {"model": ErrorResponse}})
async def list_politicians(faces: FaceServiceDep) -> list[PoliticianOut]:
    """The public profiles of the politicians uploads may name."""
    return _profiles(faces.references)


@router.post(
    "/politicians/reload",
    dependencies=[OperatorDep],
    responses={401: {"model": ErrorResponse}, 500: {"model": ErrorResponse}},
)
async def reload_politicians(faces: FaceServiceDep) -> list[PoliticianOut]:
    """Re-read ``reference_faces/`` (operator); on error the previous set stays in use."""
    return _profiles(await faces.reload())
