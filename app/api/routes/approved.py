from __future__ import annotations

import hashlib
from email.utils import formatdate
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from app.api.deps import CarouselDep, FaceServiceDep
from app.api.schemas import ApprovedItem, ApprovedPage, PoliticianProfile, epoch_to_datetime
from app.db import MAX_ID
from app.errors import ErrorResponse
from app.faces.renditions import Rendition
from app.politicians.profiles import SLUG_PATTERN

router = APIRouter(tags=["carousel"])

# Pollers revalidate every time; an unchanged list costs a 304 and no body.
LIST_CACHE_CONTROL = "no-cache"
# A withdrawn upload must leave shared caches within minutes, not a day: renditions are cached for
# five minutes, and revalidated after that (their ETag never changes while they exist).
IMAGE_CACHE_CONTROL = "public, max-age=300, must-revalidate"


@router.get(
    "/approved",
    response_model=ApprovedPage,
    responses={
        304: {"description": "Not modified since the ETag given in If-None-Match."},
        422: {"model": ErrorResponse},
    },
)
async def list_approved(
    request: Request,
    response: Response,
    carousel: CarouselDep,
    faces: FaceServiceDep,
    politician: Annotated[str | None, Query(pattern=SLUG_PATTERN.pattern)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="next_cursor of the previous page")
    ] = None,
) -> ApprovedPage | Response:
    """Approved uploads for the carousel, newest first; conditional requests answer 304."""
    version = await carousel.version()
    state = f"{version.live}:{version.last_id}:{version.changed_at}:{politician}:{limit}:{cursor}"
    etag = f'W/"{hashlib.sha256(state.encode()).hexdigest()[:20]}"'
    headers = {"ETag": etag, "Cache-Control": LIST_CACHE_CONTROL}
    if version.changed_at:
        headers["Last-Modified"] = formatdate(version.changed_at, usegmt=True)
    if etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    page = await carousel.page(politician=politician, limit=limit, cursor=cursor)
    references = faces.references
    response.headers.update(headers)
    return ApprovedPage(
        items=[
            ApprovedItem(
                id=a.id,
                politician=PoliticianProfile.of(a.politician, references.politicians.get(a.politician)),
                image_url=f"/approved/{a.id}/image",
                thumbnail_url=f"/approved/{a.id}/thumbnail",
                approved_at=epoch_to_datetime(a.approved_at),
            )
            for a in page.items
        ],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/approved/{approval_id}/{rendition}",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "The JPEG rendition."},
        404: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
)
async def approved_image(
    carousel: CarouselDep, approval_id: Annotated[int, Path(ge=1, le=MAX_ID)], rendition: Rendition
) -> Response:
    """An approved upload's image (`image`) or carousel-size copy (`thumbnail`), as JPEG."""
    data = await carousel.image(approval_id, rendition)
    return Response(
        data,
        media_type="image/jpeg",
        headers={"Cache-Control": IMAGE_CACHE_CONTROL, "ETag": f'"{approval_id}-{rendition.value}"'},
    )
