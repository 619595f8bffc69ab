"""Rows deleted or changed in NocoDB (webhook, sweep): withdrawn and erased, or moderated again."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx

from app.config import RejectAction
from app.erasure.store import PurgeState, PurgeTrigger
from app.faces.renditions import Rendition
from app.moderation.service import ModerationService
from app.moderation.sweep import Sweeper
from app.moderation.webhook import DELETE_EVENT, UPDATE_EVENT, WebhookReceiver
from app.outcomes import Action
from app.verification import FaceService
from harness.images import sample
from harness.loop import FIELDS
from tests.utils.erasure import THUMBNAIL, files_in, on_disk
from tests.utils.fake_nocodb import TABLE, FakeNocoDB, location
from tests.utils.moderation import eraser_of, moderation_service, queued_job
from tests.utils.stores import Stores


def _deleted(*rows: dict[str, Any]) -> bytes:
    return json.dumps({"type": DELETE_EVENT, "data": {"table_id": TABLE, "rows": list(rows)}}).encode()


def _receiver(service: ModerationService, stores: Stores) -> WebhookReceiver:
    return WebhookReceiver(
        queue=stores.queue,
        table_id=TABLE,
        fields=FIELDS,
        wake=asyncio.Event(),
        inserted=asyncio.Event(),
        lifecycle=service.lifecycle,
    )


def _process(service: ModerationService, stores: Stores, row: dict[str, Any]) -> Action:
    # Unlike ``support.run``, the service's client stays open: these tests go on using it.
    return asyncio.run(service.process(queued_job(stores.queue, row)))


def _approved(
    fake: FakeNocoDB, stores: Stores, faces: FaceService, nc: Path, **options: Any
) -> tuple[ModerationService, dict[str, Any]]:
    row = fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    uploads = on_disk(fake, nc)
    service = moderation_service(
        httpx.MockTransport(fake.handler), stores, faces, uploads_dir=uploads, **options
    )
    assert _process(service, stores, row) == "approved"
    return service, row


def test_an_approved_row_a_moderator_deletes_is_withdrawn_and_erased(
    faces: FaceService, stores: Stores, tmp_path: Path
) -> None:
    fake = FakeNocoDB()
    service, row = _approved(fake, stores, faces, tmp_path / "nc")
    (approval,) = stores.approvals.approvals()
    assert stores.approvals.rendition(approval.id, Rendition.THUMBNAIL) is not None
    del fake.rows[1]  # the moderator's deletion
    ack = asyncio.run(_receiver(service, stores).receive(_deleted(row)))
    assert (ack.received, ack.queued) == (1, 1)
    assert stores.approvals.approvals() == []
    assert stores.approvals.rendition(approval.id, Rendition.THUMBNAIL) is None
    (pending,) = stores.purges.pending()
    assert pending.trigger == PurgeTrigger.DELETED_IN_NOCODB and pending.locations == [location(1, "a.jpg")]
    assert files_in(tmp_path / "nc")  # erased by the eraser's task, not in the webhook's answer
    assert asyncio.run(eraser_of(service).retry_pending()) == 1
    assert files_in(tmp_path / "nc") == set()
    record = stores.purges.for_row(approval.row_key)
    assert record is not None and record.state is PurgeState.DONE
    assert (record.files, record.bytes) == (2, len(sample("obama2.jpg")) + len(THUMBNAIL))


def test_a_deletion_reported_twice_is_erased_once(faces: FaceService, stores: Stores, tmp_path: Path) -> None:
    # facegate deletes a rejected row, and NocoDB's after-delete webhook reports that deletion too.
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("cat.png", sample("cat.png")))
    uploads = on_disk(fake, tmp_path / "nc")
    service = moderation_service(httpx.MockTransport(fake.handler), stores, faces, uploads_dir=uploads)
    receiver = _receiver(service, stores)
    asyncio.run(receiver.receive(_deleted(row)))  # the webhook may even arrive first
    assert _process(service, stores, row) == "deleted"
    asyncio.run(eraser_of(service).retry_pending())
    (decision,) = stores.decisions.decisions()
    record = stores.purges.for_row(decision.row_key)
    assert record is not None and record.state is PurgeState.DONE and record.trigger == PurgeTrigger.DELETED
    assert (record.files, record.bytes) == (2, len(sample("cat.png")) + len(THUMBNAIL))
    assert files_in(tmp_path / "nc") == set()


def test_a_row_still_in_nocodb_keeps_its_files(faces: FaceService, stores: Stores, tmp_path: Path) -> None:
    # A forged or mistaken deletion event: the eraser asks NocoDB, which still has the row.
    fake = FakeNocoDB()
    service, row = _approved(fake, stores, faces, tmp_path / "nc")
    before = files_in(tmp_path / "nc")
    asyncio.run(_receiver(service, stores).receive(_deleted(row)))
    asyncio.run(eraser_of(service).retry_pending())
    assert files_in(tmp_path / "nc") == before


def test_with_flag_a_deletion_erases_nothing(faces: FaceService, stores: Stores, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    service, row = _approved(fake, stores, faces, tmp_path / "nc", on_reject=RejectAction.FLAG)
    before = files_in(tmp_path / "nc")
    del fake.rows[1]
    asyncio.run(_receiver(service, stores).receive(_deleted(row)))
    asyncio.run(eraser_of(service).retry_pending())
    assert stores.approvals.approvals() == []  # off the carousel all the same
    assert files_in(tmp_path / "nc") == before and stores.purges.pending() == []


def test_the_sweep_erases_an_approved_row_deleted_while_the_webhook_was_lost(
    faces: FaceService, stores: Stores, tmp_path: Path
) -> None:
    fake = FakeNocoDB()
    service, _ = _approved(fake, stores, faces, tmp_path / "nc")
    del fake.rows[1]
    sweeper = Sweeper(
        queue=stores.queue,
        decisions=stores.decisions,
        nocodb=eraser_of(service).nocodb,
        table_id=TABLE,
        fields=FIELDS,
        carousel=service.carousel,
        lifecycle=service.lifecycle,
        wake=asyncio.Event(),
    )
    assert asyncio.run(sweeper.sweep_approvals()) == 1
    asyncio.run(eraser_of(service).retry_pending())
    assert files_in(tmp_path / "nc") == set()
    (decision,) = stores.decisions.decisions()
    record = stores.purges.for_row(decision.row_key)
    assert record is not None and record.trigger == PurgeTrigger.NOT_APPROVED


def test_a_swapped_attachment_is_moderated_again(faces: FaceService, stores: Stores, tmp_path: Path) -> None:
    # The owner of an approved row replaces its picture: the after-update webhook brings a new upload.
    fake = FakeNocoDB()
    service, row = _approved(fake, stores, faces, tmp_path / "nc")
    swapped = fake.add(1, "obama", ("cat.png", sample("cat.png")))  # same row Id, a new attachment
    swapped["Status"] = "approved"  # what facegate wrote for the earlier picture
    on_disk(fake, tmp_path / "nc")  # the new picture, uploaded with its row as NocoDB writes it
    update = json.dumps({"type": UPDATE_EVENT, "data": {"table_id": TABLE, "rows": [swapped]}}).encode()
    receiver = _receiver(service, stores)
    assert asyncio.run(receiver.receive(update)).queued == 1
    again = json.dumps({"type": UPDATE_EVENT, "data": {"table_id": TABLE, "rows": [row]}}).encode()
    assert asyncio.run(receiver.receive(again)).queued == 0  # facegate's own Status write: same upload
    (job,) = stores.queue.claim(5)
    assert asyncio.run(service.process(job)) == "deleted"
    assert stores.decisions.decisions()[0].reason == "no_face"
    assert stores.approvals.approvals() == []  # the earlier picture is off the carousel, and erased
    (purge,) = stores.purges.pending()
    assert purge.locations == [location(1, "a.jpg")]


def test_a_forged_delete_naming_only_the_id_changes_nothing(
    faces: FaceService, stores: Stores, tmp_path: Path
) -> None:
    fake = FakeNocoDB()
    service, row = _approved(fake, stores, faces, tmp_path / "nc")
    (approval,) = stores.approvals.approvals()
    before = files_in(tmp_path / "nc")
    for forged in ({"Id": 1}, row):  # the Id alone, or the row's whole copy: NocoDB still has it
        ack = asyncio.run(_receiver(service, stores).receive(_deleted(forged)))
        assert (ack.received, ack.queued) == (1, 0)
    assert [a.id for a in stores.approvals.approvals()] == [approval.id]
    assert stores.purges.pending() == [] and files_in(tmp_path / "nc") == before
    # Nothing was marked gone: the sweep does not take the row for a new upload either.
    fake.rows[1]["Status"] = "approved"
    assert asyncio.run(_sweeper(service, stores).sweep()) == 0


def test_a_late_delete_after_an_id_reuse_leaves_the_new_upload_alone(
    faces: FaceService, stores: Stores, tmp_path: Path
) -> None:
    fake = FakeNocoDB()
    service, old = _approved(fake, stores, faces, tmp_path / "nc")
    del fake.rows[1]
    receiver = _receiver(service, stores)
    assert asyncio.run(receiver.receive(_deleted(old))).queued == 1
    new = fake.add(1, "obama", ("b.jpg", sample("obama3.jpg")))  # NocoDB gives Id 1 to the next row
    new["CreatedAt"] = "2026-01-01 00:05:00+00:00"
    on_disk(fake, tmp_path / "nc")  # its picture, written with it
    assert _process(service, stores, new) == "approved"
    (shown,) = stores.approvals.approvals()
    asyncio.run(receiver.receive(_deleted(old)))  # late, or replayed: the old upload is gone indeed
    assert asyncio.run(receiver.receive(_deleted({"Id": 1}))).queued == 0
    assert [a.id for a in stores.approvals.approvals()] == [shown.id]
    assert [p.row_key for p in stores.purges.pending()] == [stores.decisions.decisions()[-1].row_key]


def test_a_deleted_row_whose_picture_was_swapped_takes_its_approval_along(
    faces: FaceService, stores: Stores, tmp_path: Path
) -> None:
    # The owner swapped the approved picture; the row is deleted before the new one is decided: the
    # event names the new upload, and the approved one under the same Id is gone from NocoDB too.
    fake = FakeNocoDB()
    service, _ = _approved(fake, stores, faces, tmp_path / "nc")
    swapped = fake.add(1, "obama", ("cat.png", sample("cat.png")))
    del fake.rows[1]
    assert asyncio.run(_receiver(service, stores).receive(_deleted(swapped))).queued == 1
    assert stores.approvals.approvals() == []
    (purge,) = stores.purges.pending()
    assert purge.locations == [location(1, "a.jpg")]  # the approval's own files


def test_a_delete_event_never_schedules_files_facegate_never_decided(
    faces: FaceService, stores: Stores, tmp_path: Path
) -> None:
    fake = FakeNocoDB()
    service, _ = _approved(fake, stores, faces, tmp_path / "nc")
    victim = {"path": f"download/{location(1, 'a.jpg')}", "id": "att-forged"}  # the approved row's file
    forged = {"Id": 7, "CreatedAt": "2026-01-01 00:00:00+00:00", "Image": [victim]}
    assert asyncio.run(_receiver(service, stores).receive(_deleted(forged))).queued == 0
    assert stores.purges.pending() == [] and len(stores.approvals.approvals()) == 1


def _sweeper(service: ModerationService, stores: Stores) -> Sweeper:
    return Sweeper(
        queue=stores.queue,
        decisions=stores.decisions,
        nocodb=eraser_of(service).nocodb,
        table_id=TABLE,
        fields=FIELDS,
        carousel=service.carousel,
        lifecycle=service.lifecycle,
        wake=asyncio.Event(),
    )
