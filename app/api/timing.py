"""Request latency by route template (never by raw path: ids would explode the label set)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.metrics import HTTP_SECONDS


class RequestTiming:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            HTTP_SECONDS.labels(route=_route(scope), method=scope["method"], status=str(status)).observe(
                time.perf_counter() - started
            )


def _route(scope: Scope) -> str:
    # The router writes the matched route into the (shared) scope while it handles the request.
    route = scope.get("route")
    return str(getattr(route, "path", "unmatched"))
