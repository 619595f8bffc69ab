from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from app.api.deps import SettingsDep
from app.api.schemas import Site

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"

router = APIRouter(tags=["carousel"])


@router.get("/", response_class=FileResponse, include_in_schema=False)
async def carousel_page() -> FileResponse:
    """The carousel page: static HTML, CSS and JavaScript, no build step."""
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/site")
async def site(settings: SettingsDep) -> Site:
    """What the page needs besides the data: the link to the upload form."""
    return Site(form_url=settings.form_url)
