"""Rows facegate must not decide yet are held, never rejected: a politician the form offers but the
reference folder lacks, a configured column gone, references missing, the backlog not confirmed; and
a row without consent is rejected unseen. Real face workers, a fake NocoDB."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import httpx
import pytest

from app.config import FieldNames
from app.faces.matcher import ReferenceMatrix
from app.integrations.nocodb.errors import NocoDBUnavailable
from app.moderation.backlog import Backlog, BacklogStore
from app.moderation.holds import Held
from app.moderation.queue import Job
from app.moderation.rows import parse_row
from app.moderation.runner import QueueRunner
from app.moderation.service import ModerationService
from app.outcomes import HoldReason
from app.politicians.references import ReferenceSet
from app.verification import FaceService
from harness.images import sample
from harness.loop import FIELDS
from tests.utils.fake_nocodb import TABLE, FakeNocoDB
from tests.utils.moderation import lifecycle, make_sweeper, moderation_service, nocodb_client, queued_job
from tests.utils.stores import Stores

CONSENT = FieldNames(image="Image", politician="Politician", status="Status", consent="Consent")
# The fake's rows are all created then.
CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def _service(fake: FakeNocoDB, stores: Stores, faces: FaceService, **options: object) -> ModerationService:
    return moderation_service(httpx.MockTransport(fake.handler), stores, faces, **options)  # type: ignore[arg-type]


def _held(service: ModerationService, job: Job) -> Held:
    with pytest.raises(Held) as raised:
        asyncio.run(service.process(job))
    return raised.value


def _downloads(fake: FakeNocoDB) -> int:
    return sum(path.startswith("/download/") for _, path in fake.calls)


def test_an_option_without_a_politician_is_held_untouched_and_logged_once(
    faces: FaceService, stores: Stores, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeNocoDB()
    fake.politician_options = [*(fake.politician_options or []), "Jane Doe"]
    service = _service(fake, stores, faces)
    runner = QueueRunner(queue=stores.queue, moderation=service, concurrency=1, wake=asyncio.Event())
    jobs = [
        queued_job(stores.queue, fake.add(1, "Jane Doe", ("a.jpg", sample("obama2.jpg")))),
        queued_job(stores.queue, fake.add(2, "Jane Doe", ("a.jpg", sample("biden.jpg")))),
    ]
    with caplog.at_level(logging.ERROR, logger="app.moderation.holds"):
        for job in jobs:
            asyncio.run(runner._run_one(job))
    held = stores.queue.held()
    assert [(h.row_id, h.reason) for h in held] == [
        (1, HoldReason.UNKNOWN_OPTION),
        (2, HoldReason.UNKNOWN_OPTION),
    ]
    assert "'Jane Doe'" in held[0].detail and "POST /politicians/reload" in held[0].detail
    assert stores.decisions.decisions() == [] and fake.actions() == [] and _downloads(fake) == 0
    assert stores.queue.held_counts()["unknown_option"] == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, errors  # one alert per option, not per row
    assert "'Jane Doe'" in errors[0] and "facegate politicians add" in errors[0]


def test_a_held_row_deleted_in_nocodb_is_found_gone_with_its_files_claimed(
    faces: FaceService, stores: Stores
) -> None:
    # Held (a minister not added yet), then deleted by a moderator: the delete event sends its job
    # round again, which finds the row gone; the files it proved while held are the eraser's to erase.
    fake = FakeNocoDB()
    fake.politician_options = [*(fake.politician_options or []), "Jane Doe"]
    service = _service(fake, stores, faces)
    row = fake.add(1, "Jane Doe", ("a.jpg", sample("obama2.jpg")))
    job = queued_job(stores.queue, row)
    held = _held(service, job)
    assert stores.queue.hold(job, held.reason, held.detail)
    del fake.rows[1]
    nocodb = nocodb_client(httpx.MockTransport(fake.handler))
    asyncio.run(lifecycle(stores, nocodb).deleted_in_nocodb(TABLE, [parse_row(row, FIELDS)]))
    assert stores.queue.held() == []
    (again,) = stores.queue.claim(1)
    assert asyncio.run(service.process(again)) == "already_gone"
    (decision,) = stores.decisions.decisions()
    assert decision.reason == "row_gone"
    location = row["Image"][0]["path"].removeprefix("download/")
    assert list(stores.claims.owned(job.row_key, [location])) == [location]


def test_a_select_whose_options_cannot_be_read_holds_its_rows(faces: FaceService, stores: Stores) -> None:
    # No option at all in NocoDB's answer: a shape facegate does not know, not "nothing offered".
    fake = FakeNocoDB(politician_options=[])
    job = queued_job(stores.queue, fake.add(1, "Jane Doe", ("a.jpg", sample("obama2.jpg"))))
    assert _held(_service(fake, stores, faces), job).reason is HoldReason.UNKNOWN_OPTION
    assert stores.decisions.decisions() == [] and fake.actions() == []


def test_a_value_the_form_no_longer_offers_is_rejected(faces: FaceService, stores: Stores) -> None:
    fake = FakeNocoDB()  # "Jane Doe" was an option once; the cell is stale, or written past the form
    job = queued_job(stores.queue, fake.add(1, "Jane Doe", ("a.jpg", sample("obama2.jpg"))))
    assert asyncio.run(_service(fake, stores, faces).process(job)) == "deleted"
    (decision,) = stores.decisions.decisions()
    # The log keeps slugs only; what the cell said is quoted in the detail, cut short.
    assert (decision.reason, decision.politician) == ("unknown_politician", None)
    assert "'Jane Doe'" in (decision.detail or "")


def test_an_option_added_since_the_options_were_read_is_held_not_rejected(
    faces: FaceService, stores: Stores
) -> None:
    fake = FakeNocoDB()
    service = _service(fake, stores, faces)
    first = queued_job(stores.queue, fake.add(1, "Jane Doe", ("a.jpg", sample("obama2.jpg"))))
    assert asyncio.run(service.process(first)) == "deleted"  # not an option when it was read
    fake.politician_options = [*(fake.politician_options or []), "Jane Doe"]
    second = queued_job(stores.queue, fake.add(2, "Jane Doe", ("a.jpg", sample("obama2.jpg"))))
    assert _held(service, second).reason is HoldReason.UNKNOWN_OPTION  # read again, not taken as forged


def test_a_name_typed_into_a_text_column_is_held(faces: FaceService, stores: Stores) -> None:
    fake = FakeNocoDB(politician_options=None)
    job = queued_job(stores.queue, fake.add(1, "Jane Doe", ("a.jpg", sample("obama2.jpg"))))
    held = _held(_service(fake, stores, faces), job)
    assert held.reason is HoldReason.UNKNOWN_NAME and "typed into 'Politician'" in held.detail
    # A name that does name a politician is decided as ever.
    known = queued_job(stores.queue, fake.add(2, "barack obama", ("a.jpg", sample("obama2.jpg"))))
    assert asyncio.run(_service(fake, stores, faces).process(known)) == "approved"


@pytest.mark.parametrize("ticked", [0, False, None, "false"])
def test_a_row_without_consent_is_deleted_unseen(faces: FaceService, stores: Stores, ticked: object) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    row["Consent"] = ticked
    job = queued_job(stores.queue, row)
    assert asyncio.run(_service(fake, stores, faces, fields=CONSENT).process(job)) == "deleted"
    (decision,) = stores.decisions.decisions()
    assert (decision.decision, decision.reason) == ("rejected", "no_consent")
    assert "'Consent'" in (decision.detail or "")
    assert _downloads(fake) == 0 and 1 not in fake.rows


def test_a_row_without_consent_has_its_files_claimed_for_erasure(faces: FaceService, stores: Stores) -> None:
    # Deleted unseen, but its picture is someone's: proved the row's own first, so the eraser erases it.
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    row["Consent"] = False
    job = queued_job(stores.queue, row)
    assert asyncio.run(_service(fake, stores, faces, fields=CONSENT).process(job)) == "deleted"
    location = row["Image"][0]["path"].removeprefix("download/")
    assert list(stores.claims.owned(job.row_key, [location])) == [location]
    assert _downloads(fake) == 0


@pytest.mark.parametrize(("column", "cell"), [("Consent", "Yes"), ("Image", "download/x.jpg")])
def test_a_cell_its_column_type_never_has_holds_the_row(
    faces: FaceService, stores: Stores, column: str, cell: object
) -> None:
    # A Checkbox turned into a Yes/No select, an image setting naming a text column: read as they are,
    # every row would be deleted (no consent, no image).
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    row["Consent"] = True
    job = queued_job(stores.queue, row)
    row[column] = cell
    held = _held(_service(fake, stores, faces, fields=CONSENT), job)
    assert held.reason is HoldReason.COLUMN_TYPE and repr(column) in held.detail
    assert stores.decisions.decisions() == [] and fake.actions() == []


@pytest.mark.parametrize("ticked", [1, True, "true"])
def test_a_row_with_consent_is_moderated(faces: FaceService, stores: Stores, ticked: object) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    row["Consent"] = ticked
    job = queued_job(stores.queue, row)
    assert asyncio.run(_service(fake, stores, faces, fields=CONSENT).process(job)) == "approved"


@pytest.mark.parametrize("column", ["Consent", "Image", "Politician"])
def test_a_configured_column_gone_from_the_table_holds_rows(
    faces: FaceService, stores: Stores, column: str
) -> None:
    # Renamed in NocoDB: without it every row would look like one without consent, image or name.
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    row["Consent"] = 1
    job = queued_job(stores.queue, row)
    del row[column]
    held = _held(_service(fake, stores, faces, fields=CONSENT), job)
    assert held.reason is HoldReason.COLUMN_MISSING and repr(column) in held.detail
    assert stores.decisions.decisions() == [] and fake.actions() == []


def test_references_not_loaded_or_empty_hold_rows(
    faces: FaceService, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeNocoDB()
    job = queued_job(stores.queue, fake.add(1, None, ("a.jpg", sample("obama2.jpg"))))
    service = _service(fake, stores, faces)
    monkeypatch.setattr(faces, "_references", None)
    assert _held(service, job).reason is HoldReason.REFERENCES_NOT_LOADED
    empty = ReferenceSet(politicians={}, matrix=ReferenceMatrix.build({}))
    monkeypatch.setattr(faces, "_references", empty)
    # With no politician, a row naming none would be identified as nobody and deleted.
    assert _held(service, job).reason is HoldReason.REFERENCES_EMPTY
    assert stores.decisions.decisions() == [] and fake.actions() == []


def test_backlog_rows_are_held_without_asking_nocodb_until_confirmed(
    faces: FaceService, stores: Stores
) -> None:
    fake = FakeNocoDB()
    job = queued_job(stores.queue, fake.add(1, "obama", ("a.jpg", sample("biden.jpg"))))
    service = _service(fake, stores, faces, backlog_before=CREATED)
    held = _held(service, job)
    assert held.reason is HoldReason.BACKLOG and "facegate backlog --apply" in held.detail
    assert fake.calls == [] and stores.decisions.decisions() == []
    assert BacklogStore(stores.db).confirm(TABLE, CREATED.timestamp())
    assert not BacklogStore(stores.db).confirm(TABLE, CREATED.timestamp())  # once
    assert asyncio.run(service.process(job)) == "deleted"  # the same service reads it again


def test_rows_after_the_cut_off_are_moderated_and_rows_without_a_time_are_backlog(
    faces: FaceService, stores: Stores
) -> None:
    fake = FakeNocoDB()
    service = _service(fake, stores, faces, backlog_before=datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC))
    after = queued_job(stores.queue, fake.add(1, "obama", ("a.jpg", sample("obama2.jpg"))))
    assert asyncio.run(service.process(after)) == "approved"
    timeless = fake.add(2, "obama", ("a.jpg", sample("obama2.jpg")))
    del timeless["CreatedAt"]
    assert _held(service, queued_job(stores.queue, timeless)).reason is HoldReason.BACKLOG


def test_a_held_job_keeps_its_time_and_is_released_by_reason(stores: Stores) -> None:
    fake = FakeNocoDB()
    backlog = queued_job(stores.queue, fake.add(1, "obama"))
    assert stores.queue.hold(backlog, HoldReason.BACKLOG, "backlog")
    option = queued_job(stores.queue, fake.add(2, "Jane Doe"))
    assert stores.queue.hold(option, HoldReason.UNKNOWN_OPTION, "Jane Doe")
    (first, second) = stores.queue.held()
    assert stores.queue.release_held([HoldReason.UNKNOWN_OPTION]) == 1
    assert [h.row_id for h in stores.queue.held()] == [1]
    (again,) = stores.queue.claim(10)
    assert stores.queue.hold(again, HoldReason.UNKNOWN_OPTION, "Jane Doe")
    assert [h.since for h in stores.queue.held()] == [first.since, second.since]  # waiting since then
    assert stores.queue.release_held() == 2
    assert stores.queue.held() == [] and stores.queue.counts()["queued"] == 2
    assert {j.held_reason for j in stores.queue.jobs()} == {None}


def test_the_sweep_reads_the_consent_column(stores: Stores) -> None:
    fake = FakeNocoDB()
    fake.add(1, "obama")["Consent"] = 1
    asyncio.run(make_sweeper(fake, stores, fields=CONSENT).sweep())
    assert fake.listed_fields == [["Id", "CreatedAt", "Politician", "Image", "Status", "Consent"]]
    assert FIELDS.columns() == ["Politician", "Image", "Status"]


def test_the_sweep_queues_the_held_backlog_once_it_is_confirmed(stores: Stores) -> None:
    # A job that read "not confirmed" a moment before `facegate backlog --apply` is held after it.
    fake = FakeNocoDB()
    job = queued_job(stores.queue, fake.add(1, "obama"))
    stores.queue.hold(job, HoldReason.BACKLOG, "backlog")
    backlog = Backlog(store=BacklogStore(stores.db), queue=stores.queue, table_id=TABLE, before=CREATED)
    fake.fail_with = 503  # NocoDB down: the backlog is released all the same
    sweeper = make_sweeper(fake, stores, backlog=backlog)
    with pytest.raises(NocoDBUnavailable):
        asyncio.run(sweeper.sweep())
    assert [h.row_id for h in stores.queue.held()] == [1]  # not confirmed: still held
    BacklogStore(stores.db).confirm(TABLE, CREATED.timestamp())
    with pytest.raises(NocoDBUnavailable):
        asyncio.run(sweeper.sweep())
    assert stores.queue.held() == [] and stores.queue.counts()["queued"] == 1
