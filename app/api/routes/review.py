"""The reference page a row's note links to: for a moderator's browser, without the operator key.

The token in the path is the credential (``app.moderation.links``). Wrong tokens count against the
client like wrong operator keys (``CredentialGuard``). Every answer of ``/review/`` carries
``no-store``, ``noindex`` and a Content-Security-Policy that allows only inline style and ``data:``
images (``app.api.headers``). The token is never logged: it is in no message, ``facegate serve``
runs uvicorn without its access log, and request metrics name the route's template, not the path.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.api.deps import RuntimeDep, client_of
from app.api.ratelimit import CredentialGuard
from app.api.review_html import error_page, review_page
from app.errors import RateLimited
from app.integrations.nocodb.errors import NocoDBUnavailable
from app.moderation.links import InvalidLink
from app.moderation.review_page import UploadGone

router = APIRouter(tags=["moderation"])

FRESH_LINK = "The row's note in NocoDB holds a fresh link."


@router.get("/review/{token}", response_class=HTMLResponse, include_in_schema=False)
async def review(request: Request, runtime: RuntimeDep, token: str) -> HTMLResponse:
    """The upload of one row beside the named politician's reference photos, with the distances."""
    page = runtime.review
    if page is None:
        message = "Reference pages are off: FACEGATE_PUBLIC_URL or FACEGATE_STAMP_SECRET is not set."
        return HTMLResponse(error_page("Not found", message), status_code=404)
    guard: CredentialGuard = request.app.state.credential_guard
    client = client_of(request)
    try:
        guard.before_checking(client)
        view = await page.view(token)
    except RateLimited as exc:
        message = f"Too many invalid links from this address; try again in {exc.retry_after} s."
        headers = {"Retry-After": str(exc.retry_after)}
        return HTMLResponse(error_page("Too many requests", message), status_code=429, headers=headers)
    except InvalidLink as exc:
        guard.failed(client)
        # Expired, or not valid: which part of a token failed is not said.
        title = "This link expired" if str(exc).startswith("expired") else "This link is not valid"
        return HTMLResponse(error_page(title, FRESH_LINK), status_code=403)
    except UploadGone:
        message = "This upload is no longer in NocoDB: the row was deleted, or holds another upload now."
        return HTMLResponse(error_page("Upload not found", message), status_code=404)
    except NocoDBUnavailable:
        message = "NocoDB did not answer; try again in a minute."
        return HTMLResponse(error_page("NocoDB unavailable", message), status_code=503)
    guard.succeeded(client)
    return HTMLResponse(review_page(view))
