"""The sweep: every upload of the table that facegate has not seen is queued, whatever its Status says."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from app.moderation.rows import parse_row
from app.moderation.sweep import Sweeper
from harness.images import sample
from harness.loop import FIELDS
from tests.moderation.fake_nocodb import TABLE, FakeNocoDB
from tests.moderation.support import approve, carousel, nocodb_client, queued_job
from tests.support import Stores


def _sweeper(fake: FakeNocoDB, stores: Stores, tmp_path: Path) -> Sweeper:
    nocodb = nocodb_client(httpx.MockTransport(fake.handler))
    return Sweeper(
        queue=stores.queue,
        nocodb=nocodb,
        table_id=TABLE,
        fields=FIELDS,
        carousel=carousel(stores, nocodb, tmp_path / "renditions"),
        wake=asyncio.Event(),
    )


def test_a_status_facegate_did_not_write_is_not_trusted(stores: Stores, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    for row_id, status in enumerate([None, "approved", " ", "pending", "rejected: no_face"], start=1):
        fake.add(row_id, "obama", ("a.jpg", sample("cat.png")))["Status"] = status
    sweeper = _sweeper(fake, stores, tmp_path)
    assert asyncio.run(sweeper.sweep()) == 5
    assert asyncio.run(sweeper.sweep()) == 0  # queued once


def test_an_upload_on_the_carousel_is_not_queued_again(stores: Stores, tmp_path: Path) -> None:
    # Retention forgets finished jobs; the carousel's live approvals still say the row was decided.
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    row["Status"] = "approved"
    approve(stores, queued_job(stores.queue, row), "obama", parse_row(row, FIELDS).attachments)
    with stores.db.tx() as db:
        db.execute("DELETE FROM jobs")  # what retention does once it is done and old
    assert asyncio.run(_sweeper(fake, stores, tmp_path).sweep()) == 0


def test_a_changed_attachment_is_a_new_upload(stores: Stores, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    sweeper = _sweeper(fake, stores, tmp_path)
    assert asyncio.run(sweeper.sweep()) == 1
    fake.add(1, "obama", ("b.png", sample("cat.png")))["Status"] = "approved"
    assert asyncio.run(sweeper.sweep()) == 1
