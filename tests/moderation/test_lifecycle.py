"""An upload's lifecycle: what leaves the carousel, and whose files are erased, when."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from app.carousel.store import NewApproval
from app.erasure.files import StoredFiles
from app.erasure.store import PurgeTrigger
from app.errors import NotFound
from app.faces.renditions import Rendition
from app.moderation.lifecycle import MAX_WITHDRAWN_AT_ONCE, UploadLifecycle
from app.moderation.rows import parse_row
from harness.images import exif_rotated
from harness.loop import FIELDS
from tests.utils.fake_nocodb import TABLE, FakeNocoDB, location
from tests.utils.moderation import approve, eraser_over, lifecycle, nocodb_client, queued_job
from tests.utils.stores import Stores


def _approve(stores: Stores, fake: FakeNocoDB, row_id: int, image: bytes) -> int:
    row = fake.add(row_id, "obama", ("a.jpg", image))
    return approve(stores, queued_job(stores.queue, row), "obama", parse_row(row, FIELDS).attachments)


def _keys(stores: Stores) -> set[str]:
    return set(stores.approvals.live_keys(TABLE))


@pytest.fixture
def fake() -> FakeNocoDB:
    return FakeNocoDB()


@pytest.fixture
def erasing(stores: Stores, fake: FakeNocoDB) -> Iterator[UploadLifecycle]:
    """A lifecycle whose eraser only schedules (no storage configured: the purges stay pending)."""
    nocodb = nocodb_client(httpx.MockTransport(fake.handler))
    yield lifecycle(stores, nocodb, eraser_over(stores, nocodb, StoredFiles(local=None)))
    asyncio.run(nocodb.aclose())


def test_no_longer_approved_withdraws_what_nocodb_no_longer_approves(
    stores: Stores, fake: FakeNocoDB
) -> None:
    ids = [_approve(stores, fake, i, exif_rotated("obama2.jpg", 6)) for i in (1, 2, 3)]
    uploads = lifecycle(stores, nocodb_client(httpx.MockTransport(fake.handler)))
    shown = uploads.carousel
    asyncio.run(shown.image(ids[0], Rendition.THUMBNAIL))
    assert stores.approvals.rendition(ids[0], Rendition.THUMBNAIL) is not None
    keys = {a.id: a.row_key for a in stores.approvals.approvals()}
    assert asyncio.run(shown.shows_any(TABLE)) and not asyncio.run(shown.shows_any("other"))
    assert asyncio.run(uploads.no_longer_approved(TABLE, {keys[ids[1]], keys[ids[2]]})) == 1
    assert _keys(stores) == {keys[ids[1]], keys[ids[2]]}
    assert stores.approvals.rendition(ids[0], Rendition.THUMBNAIL) is None  # gone with it


def test_no_longer_approved_refuses_to_empty_most_of_the_carousel(stores: Stores, fake: FakeNocoDB) -> None:
    count = MAX_WITHDRAWN_AT_ONCE + 5
    for i in range(1, count + 1):
        _approve(stores, fake, i, b"x")
    uploads = lifecycle(stores, nocodb_client(httpx.MockTransport(fake.handler)))
    # NocoDB answering "nothing is approved" is more likely a changed NocoDB than moderators at work.
    assert asyncio.run(uploads.no_longer_approved(TABLE, set())) == 0
    assert len(_keys(stores)) == count
    some = set(list(_keys(stores))[: count - MAX_WITHDRAWN_AT_ONCE])
    assert asyncio.run(uploads.no_longer_approved(TABLE, _keys(stores) - some)) == len(some)


def test_an_approval_replaces_the_rows_earlier_upload_and_erases_it(
    stores: Stores, fake: FakeNocoDB, erasing: UploadLifecycle
) -> None:
    earlier = parse_row(fake.add(1, "obama", ("a.jpg", b"a")), FIELDS)
    swapped = parse_row(fake.add(1, "obama", ("b.jpg", b"b")), FIELDS)  # its owner swapped the picture
    asyncio.run(erasing.approved(NewApproval("k1", TABLE, 1, "obama", earlier.attachments), None))
    asyncio.run(erasing.approved(NewApproval("k2", TABLE, 1, "obama", swapped.attachments), None))
    assert _keys(stores) == {"k2"}
    (pending,) = stores.purges.pending()
    assert (pending.row_key, pending.trigger) == ("k1", PurgeTrigger.NOT_APPROVED)
    assert pending.locations == [location(1, "a.jpg")]


def test_a_row_the_carousel_finds_deleted_is_withdrawn_and_erased(
    stores: Stores, fake: FakeNocoDB, erasing: UploadLifecycle
) -> None:
    approval_id = _approve(stores, fake, 1, exif_rotated("obama2.jpg", 6))
    fake.rows.clear()
    fake.files.clear()
    with pytest.raises(NotFound):
        asyncio.run(erasing.carousel.image(approval_id, Rendition.IMAGE))
    assert stores.approvals.approvals() == []
    (pending,) = stores.purges.pending()
    assert pending.trigger == PurgeTrigger.DELETED_IN_NOCODB and pending.locations == [location(1, "a.jpg")]
