"""Hostile attachment locations: other hosts, other schemes, ``..``, redirects, endless and silent servers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from app.integrations.nocodb.errors import NocoDBUnavailable
from app.verification import FaceService
from harness.images import sample
from tests.utils.fake_nocodb import FakeNocoDB
from tests.utils.hostile import MIB, Endless, Server
from tests.utils.moderation import MAX_DOWNLOAD_BYTES, process_row
from tests.utils.stores import Stores

NOCODB_HOST = "nocodb.test"


def _row(fake: FakeNocoDB, **attachment: Any) -> dict[str, Any]:
    """Row 1, naming obama, with one attachment cell made of ``attachment`` only."""
    row = fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    row["Image"] = [{"id": "att-1", "mimetype": "image/jpeg", **attachment}]
    return row


@pytest.mark.parametrize(
    "attachment",
    [
        {"url": "http://169.254.169.254/latest/meta-data/iam/security-credentials/"},
        {"url": "https://evil.test/a.jpg"},
        {"url": "http://nocodb.test.evil.test/a.jpg"},
        {"url": "http://nocodb.test@evil.test/a.jpg"},
        {"url": "http://nocodb.test:80@evil.test/a.jpg"},
        {"url": "http://evil.test#@nocodb.test/a.jpg"},
        {"url": "http://evil.test?@nocodb.test/a.jpg"},
        {"url": "http://nocodb.test:8080/a.jpg"},
        {"url": "https://nocodb.test/a.jpg"},
        {"url": "http://127.0.0.1/a.jpg"},
        {"url": "http://[::1]/a.jpg"},
        {"url": "http://2130706433/a.jpg"},
        {"url": "http:evil.test/a.jpg"},
        {"url": "http://[not-an-ip/a.jpg"},
        {"url": "http://nocodb.test:99999/a.jpg"},
        {"url": "//evil.test/a.jpg"},
        {"signedUrl": "http://localhost:6379/"},
        {"url": "file:///etc/passwd"},
        {"url": "FILE:///etc/passwd"},
        {"path": "file:///etc/passwd"},
        {"url": "gopher://nocodb.test/_SET"},
        {"url": "data:image/jpeg;base64,/9j/4AAQ"},
        {"url": "javascript:alert(1)"},
        {"path": "../../../../etc/passwd"},
        {"path": "download/../../etc/passwd"},
        {"path": "download/..%2f..%2fetc/passwd"},
        {"path": "download/%2e%2e/%2e%2e/etc/passwd"},
        {"path": "download\\..\\..\\etc\\passwd"},
        {"path": "/etc/passwd"},
        {"path": "download/a.jpg\r\nHost: evil.test"},
        {"path": "download/a.jpg\x00.png"},
        {"path": ""},
        {"path": 5},
        {},
    ],
    ids=repr,
)
def test_locations_outside_nocodb_are_rejected_without_a_request(
    faces: FaceService, stores: Stores, attachment: dict[str, Any]
) -> None:
    fake = FakeNocoDB()
    server = Server(fake)
    row = _row(fake, **attachment)
    assert process_row(server.transport(), stores, faces, row) == "deleted"
    (decision,) = stores.decisions.decisions()
    assert decision.reason == "unreadable_image"
    # Only NocoDB's records API was called (to read the row back before deleting it).
    assert server.hosts() <= {NOCODB_HOST}
    assert not any("/download/" in url for url in server.urls)
    assert not any("etc/passwd" in url for url in server.urls)


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data",
        "https://evil.test/a.jpg",
        "//evil.test/a.jpg",
        "http://nocodb.test@evil.test/a.jpg",
        "file:///etc/passwd",
        "http://nocodb.test:99999/a.jpg",
        "http://[not-an-ip/a.jpg",
        "http://[::1/a.jpg",  # httpx itself refuses this Location (RemoteProtocolError)
    ],
)
def test_redirects_to_other_hosts_are_not_followed(faces: FaceService, stores: Stores, location: str) -> None:
    fake = FakeNocoDB()
    server = Server(fake)
    row = fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))

    async def redirect(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": location})

    server.routes["/" + row["Image"][0]["path"]] = redirect
    assert process_row(server.transport(), stores, faces, row) == "deleted"
    assert stores.decisions.decisions()[0].reason == "unreadable_image"
    assert server.hosts() <= {NOCODB_HOST}
    assert sum("/download/" in url for url in server.urls) == 1


def test_a_redirect_loop_on_nocodb_stops(faces: FaceService, stores: Stores) -> None:
    fake = FakeNocoDB()
    server = Server(fake)
    row = fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    path = "/" + row["Image"][0]["path"]

    async def loop(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": path})

    server.routes[path] = loop
    assert process_row(server.transport(), stores, faces, row) == "deleted"
    assert "redirects" in (stores.decisions.decisions()[0].detail or "")
    assert sum("/download/" in url for url in server.urls) < 10


def test_a_server_sending_bytes_forever_is_cut_at_the_byte_limit(faces: FaceService, stores: Stores) -> None:
    fake = FakeNocoDB()
    server, body = Server(fake), Endless()
    row = fake.add(1, "obama", ("a.jpg", b"placeholder"))

    async def forever(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    server.routes["/" + row["Image"][0]["path"]] = forever
    started = time.monotonic()
    assert process_row(server.transport(), stores, faces, row) == "deleted"
    assert time.monotonic() - started < 10
    assert stores.decisions.decisions()[0].reason == "unreadable_image"
    assert MAX_DOWNLOAD_BYTES // MIB <= body.sent <= MAX_DOWNLOAD_BYTES // MIB + 2


@pytest.fixture
def short_deadline(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr("app.integrations.nocodb.client.DOWNLOAD_DEADLINE_SECONDS", 1.0)
    return 1.0


@pytest.mark.parametrize("kind", ["never-answers", "headers-then-silence", "drips-forever"])
def test_a_silent_or_slow_server_is_retryable_and_deletes_nothing(
    faces: FaceService, stores: Stores, short_deadline: float, kind: str
) -> None:
    fake = FakeNocoDB()
    server = Server(fake)
    row = fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))

    async def hang(request: httpx.Request) -> httpx.Response:
        if kind == "never-answers":
            await asyncio.Event().wait()
        if kind == "headers-then-silence":
            return httpx.Response(200, content=Endless(chunk=b"", delay=3600))
        return httpx.Response(200, content=Endless(chunk=b"\xff", delay=0.05))

    server.routes["/" + row["Image"][0]["path"]] = hang
    started = time.monotonic()
    with pytest.raises(NocoDBUnavailable, match="too long"):
        process_row(server.transport(), stores, faces, row)
    assert time.monotonic() - started < short_deadline + 5
    assert fake.actions() == [] and 1 in fake.rows
    assert stores.decisions.decisions() == []


def test_relative_paths_with_odd_characters_stay_on_nocodb(faces: FaceService, stores: Stores) -> None:
    fake = FakeNocoDB()
    server = Server(fake)
    names = ("a?x=@evil.test", "b#@evil.test", "c%2F..%2F..", "ünï cødé 🙂", "d;x=1", "e\t")
    row = fake.add(1, "obama", *((f"{name}.jpg", sample("obama2.jpg")) for name in names))
    process_row(server.transport(), stores, faces, row)
    assert server.hosts() <= {NOCODB_HOST}
    assert all(httpx.URL(url).path.startswith(("/download/", "/api/")) for url in server.urls)
