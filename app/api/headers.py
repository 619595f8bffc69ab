"""Security headers: on every response, a strict Content-Security-Policy on the carousel page, and on
every answer of the reference page (``/review/``) one stricter still, with nothing kept or indexed."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
# The page loads only its own script, style and images; nothing may frame it.
PAGE = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self';"
        b" base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
# The reference page (``app.api.routes.review``): its token is a credential and its pictures are
# uploads, so no cache, no index and no referrer keeps either; it loads nothing, runs no script.
REVIEW_PREFIX = "/review/"
REVIEW = [
    (
        b"content-security-policy",
        b"default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none';"
        b" form-action 'none'; frame-ancestors 'none'",
    ),
    (b"cache-control", b"no-store"),
    (b"x-robots-tag", b"noindex, nofollow"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        extra = COMMON + _page_headers(path)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Replaced, not doubled: a response's own value of one of these gives way.
                names = {name for name, _ in extra}
                kept = [h for h in message.get("headers", []) if bytes(h[0]).lower() not in names]
                message["headers"] = [*kept, *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _page_headers(path: str) -> list[tuple[bytes, bytes]]:
    if path == "/" or path.startswith("/static/"):
        return PAGE
    if path.startswith(REVIEW_PREFIX):
        return REVIEW
    return []
