"""Helpers of the hostile input suite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from app.config import Action
from app.faces.service import FaceService
from app.integrations.nocodb.client import NocoDBClient
from app.moderation.rows import FieldNames, new_job, parse_row
from app.moderation.service import ModerationService
from app.moderation.store import Job, Store
from tests.moderation.fake_nocodb import BASE, TABLE, FakeNocoDB

FIELDS = FieldNames(image="Image", politician="Politician", status="Status")
MAX_DOWNLOAD_BYTES = 20_000_000
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


def service(
    transport: httpx.AsyncBaseTransport,
    store: Store,
    faces: FaceService,
    *,
    allowed_origins: tuple[str, ...] = (),
    max_download_bytes: int = MAX_DOWNLOAD_BYTES,
) -> ModerationService:
    nocodb = NocoDBClient(
        base_url=BASE, api_token="token", allowed_origins=allowed_origins, transport=transport
    )
    return ModerationService(
        store=store,
        faces=faces,
        nocodb=nocodb,
        fields=FIELDS,
        action=Action.DELETE,
        max_download_bytes=max_download_bytes,
    )


def job(store: Store, row: dict[str, Any]) -> Job:
    store.enqueue([new_job(TABLE, parse_row(row, FIELDS))], source="test")
    (claimed,) = store.claim(10)
    return claimed


def run(moderation: ModerationService, queued: Job) -> str:
    async def main() -> str:
        try:
            return await moderation.process(queued)
        finally:
            await moderation.nocodb.aclose()

    return asyncio.run(main())


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
