"""Renditions of approved uploads, fetched from a fake NocoDB."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import httpx
import pytest
from PIL import Image

from app.carousel.service import Carousel, Rendition, Renditions
from app.errors import NotFound, UpstreamUnavailable
from app.faces.intake import Limits
from app.integrations.nocodb.client import NocoDBClient
from app.moderation.rows import parse_row
from app.moderation.store import Store
from tests.images import exif_rotated
from tests.moderation.fake_nocodb import BASE, TABLE, FakeNocoDB
from tests.moderation.test_service import FIELDS, _job

LIMITS = Limits(max_bytes=20_000_000, max_pixels=50_000_000, max_side=2048)


def _approve(store: Store, fake: FakeNocoDB, row_id: int, image: bytes) -> int:
    row = fake.add(row_id, "obama", ("a.jpg", image))
    job = _job(store, row)
    store.record_decision(
        job=job, politician="obama", decision="approved", reason="match", detail=None, distances=[]
    )
    store.record_action(job.row_key, "approved", approval=(job, "obama", parse_row(row, FIELDS).attachments))
    (approval,) = [a for a in store.approvals() if a.row_id == row_id]
    return approval.id


def _carousel(store: Store, fake: FakeNocoDB, tmp_path: Path) -> Carousel:
    nocodb = NocoDBClient(base_url=BASE, api_token="token", transport=httpx.MockTransport(fake.handler))
    return Carousel(store=store, nocodb=nocodb, renditions=Renditions(tmp_path / "renditions"), limits=LIMITS)


def test_renditions_are_jpegs_without_the_uploaders_exif(store: Store, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    approval_id = _approve(store, fake, 1, exif_rotated("obama2.jpg", 6))
    carousel = _carousel(store, fake, tmp_path)
    thumb = Image.open(io.BytesIO(asyncio.run(carousel.image(approval_id, Rendition.THUMBNAIL))))
    full = Image.open(io.BytesIO(asyncio.run(carousel.image(approval_id, Rendition.IMAGE))))
    assert thumb.format == full.format == "JPEG"
    assert max(thumb.size) == 480 and thumb.height > thumb.width  # upright, as displayed
    assert max(full.size) == 1200
    assert not thumb.getexif() and not full.getexif()


def test_renditions_are_made_once(store: Store, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    approval_id = _approve(store, fake, 1, exif_rotated("obama2.jpg", 6))
    carousel = _carousel(store, fake, tmp_path)
    first = asyncio.run(carousel.image(approval_id, Rendition.THUMBNAIL))
    fake.files.clear()  # NocoDB restarted, signed links expired: the copy still serves
    assert asyncio.run(carousel.image(approval_id, Rendition.THUMBNAIL)) == first
    assert asyncio.run(carousel.image(approval_id, Rendition.IMAGE))


def test_a_row_deleted_in_nocodb_drops_out(store: Store, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    approval_id = _approve(store, fake, 1, exif_rotated("obama2.jpg", 6))
    fake.rows.clear()
    fake.files.clear()
    carousel = _carousel(store, fake, tmp_path)
    with pytest.raises(NotFound):
        asyncio.run(carousel.image(approval_id, Rendition.IMAGE))
    assert store.approvals() == []


def test_nocodb_down_is_503_and_keeps_the_approval(store: Store, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    approval_id = _approve(store, fake, 1, exif_rotated("obama2.jpg", 6))
    fake.files.clear()
    fake.fail_with = 503
    with pytest.raises(UpstreamUnavailable):
        asyncio.run(_carousel(store, fake, tmp_path).image(approval_id, Rendition.IMAGE))
    assert len(store.approvals()) == 1


def test_pages_and_cursor(store: Store, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    ids = [_approve(store, fake, i, b"x") for i in range(1, 6)]
    carousel = _carousel(store, fake, tmp_path)
    first = asyncio.run(carousel.page(politician=None, limit=2, cursor=None))
    assert [a.id for a in first.items] == ids[::-1][:2] and first.next_cursor == ids[3]
    last = asyncio.run(carousel.page(politician=None, limit=3, cursor=ids[2]))
    assert [a.id for a in last.items] == ids[:2][::-1] and last.next_cursor is None
    assert asyncio.run(carousel.page(politician="biden", limit=5, cursor=None)).items == []
    assert TABLE
