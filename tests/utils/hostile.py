"""Helpers of the hostile input suite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from tests.utils.fake_nocodb import FakeNocoDB

MIB = 1024 * 1024
ERROR_KEYS = {"code", "message", "detail"}


def assert_error(response: httpx.Response, status: int | set[int], code: str | None = None) -> dict[str, Any]:
    """A 4xx in facegate's one error shape: ``{"error": {"code", "message", "detail"}}``."""
    allowed = {status} if isinstance(status, int) else status
    assert response.status_code in allowed, (response.status_code, response.text[:500])
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == ERROR_KEYS, error
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error  # type: ignore[no-any-return]


class Server:
    """``FakeNocoDB`` behind a handler that records every URL and may answer some paths itself."""

    def __init__(self, fake: FakeNocoDB) -> None:
        self.fake = fake
        self.urls: list[str] = []
        self.routes: dict[str, Callable[[httpx.Request], Awaitable[httpx.Response]]] = {}

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        route = self.routes.get(request.url.path)
        if route is not None:
            return await route(request)
        return self.fake.handler(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def hosts(self) -> set[str]:
        return {httpx.URL(url).host for url in self.urls}


class Endless:
    """A response body of 1 MiB chunks, ``limit`` of them or forever; counts the chunks sent."""

    def __init__(self, limit: int | None = None, chunk: bytes = b"\xff" * MIB, delay: float = 0.0) -> None:
        self.limit = limit
        self.chunk = chunk
        self.delay = delay
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.limit is None or self.sent < self.limit:
            if self.delay:
                await asyncio.sleep(self.delay)
            self.sent += 1
            yield self.chunk
