from __future__ import annotations

import hashlib
from email.utils import formatdate
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from app.api.conditional import not_modified
from app.api.deps import CarouselDep, FaceServiceDep, PoliticianFilterDep
from app.api.schemas import ApprovedItem, ApprovedPage, PoliticianProfile, epoch_to_datetime
from app.db import MAX_ID
from app.errors import ErrorResponse
from app.faces.renditions import Rendition

router = APIRouter(tags=["carousel"])

# Pollers revalidate every time; an unchanged list costs a 304 and no body.
LIST_CACHE_CONTROL = "no-cache"
# A withdrawn upload must leave shared caches within minutes, not a day: renditions are cached for
# five minutes, and revalidated after that (their ETag never changes while they exist).
IMAGE_CACHE_CONTROL = "public, max-age=300, must-revalidate"
# The campaign's page shows the renditions from another origin: <img> loads need no CORS, and this
# lets pages that require it (Cross-Origin-Embedder-Policy) load them too. They are public.
EMBEDDABLE = {"Cross-Origin-Resource-Policy": "cross-origin"}


@router.get(
    "/approved",
    response_model=ApprovedPage,
    responses={
        304: {"description": "Not modified since the ETag given in If-None-Match."},
        404: {"model": ErrorResponse, "description": "`unknown_politician`: no politician has that name."},
        422: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
)
async def list_approved(
    request: Request,
    response: Response,
    carousel: CarouselDep,
    faces: FaceServiceDep,
    slug: PoliticianFilterDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="next_cursor of the previous page")
    ] = None,
) -> ApprovedPage | Response:
    """Approved uploads for the carousel, newest first; conditional requests answer 304."""
    version = await carousel.version()
    state = f"{version.live}:{version.last_id}:{version.changed_at}:{slug}:{limit}:{cursor}"
    etag = f'W/"{hashlib.sha256(state.encode()).hexdigest()[:20]}"'
    headers = {"ETag": etag, "Cache-Control": LIST_CACHE_CONTROL}
    if version.changed_at:
        headers["Last-Modified"] = formatdate(version.changed_at, usegmt=True)
    unchanged = not_modified(request, etag, headers)
    if unchanged is not None:
        return unchanged
    page = await carousel.page(politician=slug, limit=limit, cursor=cursor)
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
        304: {"description": "Not modified: the client holds this rendition (If-None-Match)."},
        404: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
)
async def approved_image(
    request: Request,
    carousel: CarouselDep,
    approval_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    rendition: Rendition,
) -> Response:
    """An approved upload's image (`image`) or carousel-size copy (`thumbnail`), as JPEG."""
    # Read even for a revalidation: a withdrawn upload must answer 404, never 304 (caches keep
    # what a 304 confirms). The rendition of an approval never changes while it is live.
    data = await carousel.image(approval_id, rendition)
    etag = f'"{approval_id}-{rendition.value}"'
    headers = {"Cache-Control": IMAGE_CACHE_CONTROL, **EMBEDDABLE}
    unchanged = not_modified(request, etag, headers)
    if unchanged is not None:
        return unchanged
    return Response(data, media_type="image/jpeg", headers={**headers, "ETag": etag})
