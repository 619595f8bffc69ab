from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from app.api.conditional import not_modified
from app.api.deps import SettingsDep
from app.api.schemas import Site

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
EMBED_SCRIPT = STATIC_DIR / "embed.js"
# Campaign pages load the script on every visit: a cached copy is used for five minutes, then
# revalidated (304), so a new facegate version reaches them within minutes.
EMBED_CACHE_CONTROL = "public, max-age=300"

router = APIRouter(tags=["carousel"])


@router.get("/", response_class=FileResponse, include_in_schema=False)
async def carousel_page() -> FileResponse:
    """The carousel page: static HTML, CSS and JavaScript, no build step."""
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/site")
async def site(settings: SettingsDep) -> Site:
    """What the page needs besides the data: the link to the upload form."""
    return Site(form_url=settings.form_url)


@cache
def _embed_script() -> tuple[bytes, str]:
    """The script and its ETag, read once: it ships with the code."""
    script = EMBED_SCRIPT.read_bytes()
    return script, f'"{hashlib.sha256(script).hexdigest()[:20]}"'


@router.get(
    "/embed.js",
    response_class=Response,
    responses={
        200: {"content": {"text/javascript": {}}, "description": "The script."},
        304: {"description": "Not modified (If-None-Match)."},
    },
)
async def embed_script(request: Request) -> Response:
    """The carousel for another site's page, in one tag: `<script src="…/embed.js" defer>`."""
    script, etag = _embed_script()
    # A <script> tag loads it without CORS; pages that require CORP (COEP) may load it too.
    headers = {"Cache-Control": EMBED_CACHE_CONTROL, "Cross-Origin-Resource-Policy": "cross-origin"}
    unchanged = not_modified(request, etag, headers)
    if unchanged is not None:
        return unchanged
    return Response(script, media_type="text/javascript; charset=utf-8", headers={**headers, "ETag": etag})
