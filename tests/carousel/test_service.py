"""Renditions of approved uploads, fetched from a fake NocoDB."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import httpx
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from app.carousel.service import Carousel
from app.errors import NotFound, OriginalUnavailable
from app.faces.renditions import Rendition
from app.moderation.rows import parse_row
from harness.images import encode, exif_rotated, open_sample
from harness.loop import FIELDS
from tests.utils.fake_nocodb import FakeNocoDB
from tests.utils.moderation import approve, carousel, nocodb_client, queued_job
from tests.utils.stores import Stores


def _approve(stores: Stores, fake: FakeNocoDB, row_id: int, image: bytes) -> int:
    row = fake.add(row_id, "obama", ("a.jpg", image))
    return approve(stores, queued_job(stores.queue, row), "obama", parse_row(row, FIELDS).attachments)


def _carousel(stores: Stores, fake: FakeNocoDB, tmp_path: Path) -> Carousel:
    return carousel(stores, nocodb_client(httpx.MockTransport(fake.handler)))


def test_renditions_are_jpegs_without_the_uploaders_exif(stores: Stores, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    approval_id = _approve(stores, fake, 1, exif_rotated("obama2.jpg", 6))
    carousel = _carousel(stores, fake, tmp_path)
    thumb = Image.open(io.BytesIO(asyncio.run(carousel.image(approval_id, Rendition.THUMBNAIL))))
    full = Image.open(io.BytesIO(asyncio.run(carousel.image(approval_id, Rendition.IMAGE))))
    assert thumb.format == full.format == "JPEG"
    assert max(thumb.size) == 480 and thumb.height > thumb.width  # upright, as displayed
    assert max(full.size) == 1200
    assert not thumb.getexif() and not full.getexif()


def test_renditions_are_made_once(stores: Stores, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    approval_id = _approve(stores, fake, 1, exif_rotated("obama2.jpg", 6))
    carousel = _carousel(stores, fake, tmp_path)
    first = asyncio.run(carousel.image(approval_id, Rendition.THUMBNAIL))
    fake.files.clear()  # NocoDB restarted, signed links expired: the copy still serves
    assert asyncio.run(carousel.image(approval_id, Rendition.THUMBNAIL)) == first
    assert asyncio.run(carousel.image(approval_id, Rendition.IMAGE))
    # Kept in the database: another instance serves the same bytes without NocoDB.
    assert stores.approvals.rendition(approval_id, Rendition.THUMBNAIL) == first


def test_a_row_deleted_in_nocodb_drops_out(stores: Stores, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    approval_id = _approve(stores, fake, 1, exif_rotated("obama2.jpg", 6))
    fake.rows.clear()
    fake.files.clear()
    carousel = _carousel(stores, fake, tmp_path)
    with pytest.raises(NotFound):
        asyncio.run(carousel.image(approval_id, Rendition.IMAGE))
    assert stores.approvals.approvals() == []


def test_nocodb_down_is_503_and_keeps_the_approval(stores: Stores, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    approval_id = _approve(stores, fake, 1, exif_rotated("obama2.jpg", 6))
    fake.files.clear()
    fake.fail_with = 503
    with pytest.raises(OriginalUnavailable):
        asyncio.run(_carousel(stores, fake, tmp_path).image(approval_id, Rendition.IMAGE))
    assert len(stores.approvals.approvals()) == 1


def test_pages_and_cursor(stores: Stores, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    ids = [_approve(stores, fake, i, b"x") for i in range(1, 6)]
    carousel = _carousel(stores, fake, tmp_path)
    first = asyncio.run(carousel.page(politician=None, limit=2, cursor=None))
    assert [a.id for a in first.items] == ids[::-1][:2] and first.next_cursor == ids[3]
    last = asyncio.run(carousel.page(politician=None, limit=3, cursor=ids[2]))
    assert [a.id for a in last.items] == ids[:2][::-1] and last.next_cursor is None
    assert asyncio.run(carousel.page(politician="biden", limit=5, cursor=None)).items == []


def test_renditions_carry_none_of_the_uploaders_metadata(stores: Stores, tmp_path: Path) -> None:
    secret = b"taken by uploader@example.org"
    text = PngInfo()
    text.add_text("Author", secret.decode())
    fake = FakeNocoDB()
    png = encode(open_sample("obama2.jpg").convert("RGB"), "PNG", pnginfo=text)
    jpeg = encode(open_sample("obama2.jpg").convert("RGB"), "JPEG", comment=secret)
    shown = _carousel(stores, fake, tmp_path)
    for row_id, original in ((1, png), (2, jpeg)):
        approval_id = _approve(stores, fake, row_id, original)
        for rendition in Rendition:
            assert secret not in asyncio.run(shown.image(approval_id, rendition))
