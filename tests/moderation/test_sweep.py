"""The sweep: every upload of the table that facegate has not seen is queued, whatever its Status says."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from app.moderation.rows import parse_row
from app.moderation.sweep import Sweeper
from app.outcomes import Action, Decision, Reason
from harness.images import sample
from harness.loop import FIELDS
from tests.utils.fake_nocodb import TABLE, FakeNocoDB
from tests.utils.moderation import approve, lifecycle, nocodb_client, queued_job
from tests.utils.stores import Stores


def _sweeper(fake: FakeNocoDB, stores: Stores, tmp_path: Path) -> Sweeper:
    nocodb = nocodb_client(httpx.MockTransport(fake.handler))
    uploads = lifecycle(stores, nocodb)
    return Sweeper(
        queue=stores.queue,
        decisions=stores.decisions,
        nocodb=nocodb,
        table_id=TABLE,
        fields=FIELDS,
        carousel=uploads.carousel,
        lifecycle=uploads,
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
        db.exec_driver_sql("DELETE FROM jobs")  # what retention does once it is done and old
    assert asyncio.run(_sweeper(fake, stores, tmp_path).sweep()) == 0


def test_a_changed_attachment_is_a_new_upload(stores: Stores, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    sweeper = _sweeper(fake, stores, tmp_path)
    assert asyncio.run(sweeper.sweep()) == 1
    fake.add(1, "obama", ("b.png", sample("cat.png")))["Status"] = "approved"
    assert asyncio.run(sweeper.sweep()) == 1


def test_decided_rows_a_moderator_settled_are_queued_again(stores: Stores, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    rows = {n: fake.add(n, "obama", ("a.jpg", sample("obama2.jpg"))) for n in (1, 2, 3, 4, 5)}
    sweeper = _sweeper(fake, stores, tmp_path)
    assert asyncio.run(sweeper.sweep()) == 5
    decided = {
        1: (Decision.REVIEW, Action.REVIEW),
        2: (Decision.REVIEW, Action.REVIEW),
        3: (Decision.APPROVED, Action.APPROVED),
        4: (Decision.REJECTED, Action.FLAGGED),
    }
    for job in stores.queue.claim(10):
        if job.row_id in decided:
            decision, action = decided[job.row_id]
            record = stores.decisions.record_decision(
                row_key=job.row_key,
                table_id=TABLE,
                row_id=job.row_id,
                politician="obama",
                decision=decision,
                reason=Reason.MATCH,
                detail=None,
                distances=[],
            )
            stores.decisions.record_action(record.id, action)
        stores.queue.finish(job)
    assert asyncio.run(sweeper.sweep()) == 0  # Status blank: nothing to follow
    # A moderator approves row 1, rejects rows 2 and 3, and approves row 4 (facegate flagged it).
    # Row 5 arrived with "approved" before facegate decided it: not a moderator's word.
    for n, status in {1: "approved", 2: "rejected", 3: "Rejected", 4: "approved", 5: "approved"}.items():
        rows[n]["Status"] = status
    assert asyncio.run(sweeper.sweep()) == 4
    assert sorted(j.row_id for j in stores.queue.claim(10)) == [1, 2, 3, 4]
