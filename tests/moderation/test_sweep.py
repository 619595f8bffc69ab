"""The sweep: every upload of the table that facegate has not seen is queued, whatever its Status says."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.moderation import sweep
from app.moderation.links import ReviewLinks
from app.moderation.rows import parse_row
from app.moderation.sweep import Sweeper
from app.moderation.webhook import INSERT_EVENT, WebhookReceiver
from app.outcomes import Action, Decision, Reason
from harness.images import sample
from harness.loop import FIELDS
from tests.utils.clock import Clock
from tests.utils.fake_nocodb import TABLE, FakeNocoDB
from tests.utils.moderation import approve, make_sweeper, nocodb_client, queued_job
from tests.utils.stores import Stores


def test_a_status_facegate_did_not_write_is_not_trusted(stores: Stores, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    for row_id, status in enumerate([None, "approved", " ", "pending", "rejected: no_face"], start=1):
        fake.add(row_id, "obama", ("a.jpg", sample("cat.png")))["Status"] = status
    sweeper = make_sweeper(fake, stores)
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
    assert asyncio.run(make_sweeper(fake, stores).sweep()) == 0


def test_a_changed_attachment_is_a_new_upload(stores: Stores, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    sweeper = make_sweeper(fake, stores)
    assert asyncio.run(sweeper.sweep()) == 1
    fake.add(1, "obama", ("b.png", sample("cat.png")))["Status"] = "approved"
    assert asyncio.run(sweeper.sweep()) == 1


def test_decided_rows_a_moderator_settled_are_queued_again(stores: Stores, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    rows = {n: fake.add(n, "obama", ("a.jpg", sample("obama2.jpg"))) for n in (1, 2, 3, 4, 5)}
    sweeper = make_sweeper(fake, stores)
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


def _insert_event(*rows: dict[str, Any]) -> bytes:
    return json.dumps({"type": INSERT_EVENT, "data": {"table_id": TABLE, "rows": list(rows)}}).encode()


def _receiver(sweeper: Sweeper, inserted: asyncio.Event) -> WebhookReceiver:
    return WebhookReceiver(
        queue=sweeper.queue,
        table_id=TABLE,
        fields=FIELDS,
        wake=asyncio.Event(),
        inserted=inserted,
        lifecycle=sweeper.lifecycle,
    )


def _queued_rows(stores: Stores) -> list[int]:
    return sorted(job.row_id for job in stores.queue.jobs())


def test_an_insert_event_naming_another_row_still_gets_the_inserted_one_queued(
    stores: Stores, tmp_path: Path
) -> None:
    # Two concurrent form submissions: both events name row 1, as NocoDB's sometimes do.
    fake = FakeNocoDB()
    first = fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    fake.add(2, "obama", ("b.jpg", sample("obama3.jpg")))
    sweeper, inserted = make_sweeper(fake, stores), asyncio.Event()
    receiver = _receiver(sweeper, inserted)
    for _ in range(2):
        asyncio.run(receiver.receive(_insert_event(first)))
    assert _queued_rows(stores) == [1] and inserted.is_set()
    assert asyncio.run(sweeper.newest()) == 1  # the nudge: rows listed since the newest seen
    assert _queued_rows(stores) == [1, 2]
    assert asyncio.run(sweeper.newest()) == 0  # queued once


def test_newest_lists_above_the_newest_row_it_listed(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep, "NEWEST_MARGIN", 0)
    fake = FakeNocoDB()
    for row_id in range(1, 11):
        fake.add(row_id, "obama", ("a.jpg", sample("obama2.jpg")))
    sweeper = make_sweeper(fake, stores)
    assert asyncio.run(sweeper.newest()) == 10
    rows = [fake.add(row_id, "obama", ("a.jpg", sample("obama2.jpg"))) for row_id in range(11, 15)]
    # Only row 14 was named by an event: the rows between are above the newest one listed.
    asyncio.run(_receiver(sweeper, asyncio.Event()).receive(_insert_event(rows[-1])))
    assert asyncio.run(sweeper.newest()) == 3
    assert _queued_rows(stores) == list(range(1, 15))
    assert ("GET", f"/api/v2/tables/{TABLE}/records") in fake.calls


def test_newest_finds_a_row_under_an_id_nocodb_gave_again(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep, "NEWEST_MARGIN", 0)
    fake = FakeNocoDB()
    for row_id in (1, 2, 3):
        fake.add(row_id, "obama", ("a.jpg", sample("cat.png")))
    sweeper = make_sweeper(fake, stores)
    assert asyncio.run(sweeper.newest()) == 3
    for job in stores.queue.claim(10):  # all rejected, and row 3 deleted by facegate
        stores.queue.finish(job, row_gone=job.row_id == 3)
    del fake.rows[3]
    again = fake.add(3, "obama", ("b.jpg", sample("obama2.jpg")))  # the next row gets Id 3
    again["CreatedAt"] = "2026-01-01 00:05:00+00:00"
    assert asyncio.run(sweeper.newest()) == 1
    assert _queued_rows(stores) == [1, 2, 3, 3]


def test_insert_events_are_followed_and_a_failed_listing_does_not_end_it(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep, "NEWEST_RETRY_SECONDS", 0.01)
    fake = FakeNocoDB()
    fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    sweeper = make_sweeper(fake, stores)

    async def scenario() -> None:
        inserted = asyncio.Event()
        following = asyncio.create_task(sweeper.follow_inserts(inserted))
        fake.fail_with = 500
        inserted.set()
        await asyncio.sleep(0.3)  # the listing failed (reads are retried first)
        assert not following.done() and _queued_rows(stores) == []
        fake.fail_with = None
        inserted.set()
        for _ in range(100):
            if _queued_rows(stores):
                break
            await asyncio.sleep(0.02)
        following.cancel()
        assert _queued_rows(stores) == [1]

    asyncio.run(scenario())


def test_an_upload_published_while_the_approvals_are_listed_stays(stores: Stores, tmp_path: Path) -> None:
    # facegate writes Status approved, then publishes: a listing that passed the row's Id before the
    # write does not see it, and must not take it off the carousel (nor a later sweep log a
    # moderator's approval when it publishes it again).
    fake = FakeNocoDB()
    listed = fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    listed["Status"] = "approved"
    approve(stores, queued_job(stores.queue, listed), "obama", parse_row(listed, FIELDS).attachments)
    late = fake.add(2, "obama", ("b.jpg", sample("obama3.jpg")))
    late_job = queued_job(stores.queue, late)
    sweeper = make_sweeper(fake, stores)
    handler = fake.handler

    def publishing_during_the_listing(request: httpx.Request) -> httpx.Response:
        response = handler(request)
        if request.method != "GET" or not request.url.path.endswith("/records"):
            return response
        body = response.json()  # the page as NocoDB's (Status,eq,approved) filter reads it
        body["list"] = [row for row in body["list"] if row["Status"] == "approved"]
        late["Status"] = "approved"  # after the page was read: the listing missed it
        approve(stores, late_job, "obama", parse_row(late, FIELDS).attachments)
        return httpx.Response(200, json=body)

    sweeper.nocodb = nocodb_client(httpx.MockTransport(publishing_during_the_listing))
    assert asyncio.run(sweeper.sweep_approvals()) == 0
    assert len(stores.approvals.approvals()) == 2


def test_rows_in_review_are_queued_to_renew_their_note(stores: Stores, clock: Clock) -> None:
    # Row 1 waits with a link written now; row 2's moderator took a rejection back (its note still
    # says the row will be deleted); row 3 waits with no moderator.
    fake = FakeNocoDB()
    for n in (1, 2, 3):
        fake.add(n, "obama", ("a.jpg", sample("obama2.jpg")))["Status"] = "review"
    links = ReviewLinks("s" * 32, "https://facegate.example", ttl=86400)
    sweeper = make_sweeper(fake, stores, links=links)
    assert asyncio.run(sweeper.sweep()) == 3
    for job in stores.queue.claim(10):
        record = stores.decisions.record_decision(
            row_key=job.row_key,
            table_id=TABLE,
            row_id=job.row_id,
            politician="obama",
            decision=Decision.REVIEW,
            reason=Reason.NEAR_TOLERANCE,
            detail=None,
            distances=[],
        )
        stores.decisions.record_action(record.id, Action.REVIEW)
        if job.row_id == 2:
            stores.decisions.record_moderator(
                row_key=job.row_key, table_id=TABLE, row_id=2, politician="obama", decision=Decision.REJECTED
            )
        stores.queue.finish(job)
    assert asyncio.run(sweeper.sweep()) == 1  # the rejection taken back; the links are fresh
    (taken_back,) = stores.queue.claim(10)
    back = stores.decisions.record_moderator(  # as moderation follows it, with a fresh note
        row_key=taken_back.row_key, table_id=TABLE, row_id=2, politician="obama", decision=Decision.REVIEW
    )
    stores.decisions.record_action(back.id, Action.REVIEW)
    assert stores.queue.finish(taken_back) and asyncio.run(sweeper.sweep()) == 0
    clock.now += 86400 / 2  # the links written then have less than half their life left
    assert asyncio.run(sweeper.sweep()) == 3
    assert sorted(j.row_id for j in stores.queue.claim(10)) == [1, 2, 3]
