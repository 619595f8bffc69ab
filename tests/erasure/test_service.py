"""Erasing a deleted upload's files, through moderation, with a fake NocoDB and a real folder."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest

from app.config import RejectAction
from app.erasure.claims import UploadSource
from app.erasure.files import StoredFiles
from app.erasure.local import LocalUploads
from app.erasure.service import UNCONFIGURED_LOCAL, GoneRow
from app.erasure.store import PurgeRecord, PurgeState, PurgeTrigger
from app.metrics import REGISTRY
from app.verification import FaceService
from harness.images import sample
from tests.utils.erasure import files_in, on_disk
from tests.utils.fake_nocodb import TABLE, FakeNocoDB, location
from tests.utils.moderation import (
    eraser_of,
    eraser_over,
    moderation_service,
    nocodb_client,
    process_row,
    queued_job,
)
from tests.utils.stores import Stores


def test_a_deleted_rejection_leaves_no_file(faces: FaceService, stores: Stores, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("cat.png", sample("cat.png")))
    on_disk(fake, tmp_path / "nc")
    transport = httpx.MockTransport(fake.handler)
    assert process_row(transport, stores, faces, row, uploads_dir=tmp_path / "nc" / "uploads") == "deleted"
    assert files_in(tmp_path / "nc") == set()
    record = stores.purges.for_row(stores.decisions.decisions()[0].row_key)
    assert record is not None and record.state is PurgeState.DONE
    assert (record.files, record.bytes) == (2, len(sample("cat.png")) + len(b"thumb"))
    assert record.locations == []  # where it was is not kept once it is gone


def test_an_approved_upload_keeps_its_files(faces: FaceService, stores: Stores, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    on_disk(fake, tmp_path / "nc")
    before = files_in(tmp_path / "nc")
    transport = httpx.MockTransport(fake.handler)
    assert process_row(transport, stores, faces, row, uploads_dir=tmp_path / "nc" / "uploads") == "approved"
    assert files_in(tmp_path / "nc") == before and stores.purges.pending() == []


@pytest.mark.parametrize("policy", [RejectAction.FLAG, RejectAction.DRY_RUN])
def test_flag_and_dry_run_purge_nothing(
    faces: FaceService, stores: Stores, tmp_path: Path, policy: RejectAction
) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("cat.png", sample("cat.png")))
    on_disk(fake, tmp_path / "nc")
    before = files_in(tmp_path / "nc")
    uploads = tmp_path / "nc" / "uploads"
    process_row(httpx.MockTransport(fake.handler), stores, faces, row, on_reject=policy, uploads_dir=uploads)
    assert files_in(tmp_path / "nc") == before
    assert stores.purges.for_row(stores.decisions.decisions()[0].row_key) is None


def test_a_file_another_live_row_uses_is_kept(faces: FaceService, stores: Stores, tmp_path: Path) -> None:
    # A forged row pointing at an approved row's file: deleting the forgery must not erase the original.
    fake = FakeNocoDB()
    approved = fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    on_disk(fake, tmp_path / "nc")
    forged = fake.add(2, "biden", ("b.jpg", b""))
    forged["Image"] = approved["Image"]
    transport = httpx.MockTransport(fake.handler)
    assert process_row(transport, stores, faces, forged, uploads_dir=tmp_path / "nc" / "uploads") == "deleted"
    assert (tmp_path / "nc" / "uploads" / location(1, "a.jpg")).exists()
    (decision,) = stores.decisions.decisions()
    assert decision.reason == "foreign_attachment"  # the file is row 1's, an earlier row
    record = stores.purges.for_row(decision.row_key)
    assert record is not None and record.files == 0 and "not this upload's own" in (record.detail or "")


def test_without_the_upload_folder_the_purge_waits(faces: FaceService, stores: Stores) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("cat.png", sample("cat.png")))
    assert process_row(httpx.MockTransport(fake.handler), stores, faces, row) == "deleted"
    (pending,) = stores.purges.pending()
    assert pending.locations == [location(1, "cat.png")] and "UPLOADS_DIR" in (pending.detail or "")


def test_an_attachment_outside_the_storage_is_refused(
    faces: FaceService, stores: Stores, tmp_path: Path
) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama")
    row["Image"] = [{"id": "x", "path": "download/../../noco.db"}]
    (tmp_path / "noco.db").write_text("NocoDB's own database")
    transport = httpx.MockTransport(fake.handler)
    process_row(transport, stores, faces, row, uploads_dir=tmp_path / "nc" / "uploads")
    assert (tmp_path / "noco.db").exists()
    record = stores.purges.for_row(stores.decisions.decisions()[0].row_key)
    assert record is not None and record.state is PurgeState.REFUSED


def test_a_crash_between_the_deletion_and_the_purge_is_purged_on_replay(
    faces: FaceService, stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("cat.png", sample("cat.png")))
    on_disk(fake, tmp_path / "nc")
    service = moderation_service(
        httpx.MockTransport(fake.handler), stores, faces, uploads_dir=tmp_path / "nc" / "uploads"
    )
    job = queued_job(stores.queue, row)

    async def killed(*_: object, **__: object) -> None:  # whatever purge is given
        raise RuntimeError("facegate killed here")

    with monkeypatch.context() as patch:
        patch.setattr(eraser_of(service), "purge", killed)
        with pytest.raises(RuntimeError):
            asyncio.run(service.process(job))
    assert 1 not in fake.rows and files_in(tmp_path / "nc")  # deleted in NocoDB, files still there
    assert asyncio.run(service.process(job)) == "deleted"
    assert files_in(tmp_path / "nc") == set()
    calls = len(fake.calls)
    assert asyncio.run(service.process(job)) == "deleted"  # purged once: nothing more
    assert len(fake.calls) == calls


def test_a_pending_purge_is_retried_from_its_locations(stores: Stores, tmp_path: Path) -> None:
    # A first attempt erased one file before the storage failed; the retry erases the rest and adds up.
    fake = FakeNocoDB()
    fake.add(1, "obama", ("cat.png", b"cat bytes"))
    on_disk(fake, tmp_path / "nc")
    del fake.rows[1]
    _claim(stores, "k1", 1, location(1, "cat.png"))
    pending = stores.purges.record(
        row_key="k1",
        table_id=TABLE,
        row_id=1,
        trigger=PurgeTrigger.DELETED,
        state=PurgeState.PENDING,
        locations=[location(1, "cat.png")],
        files=1,
        bytes_removed=100,
        detail="The storage could not be changed: Read-only file system",
    )

    async def retry() -> PurgeRecord:
        nocodb = nocodb_client(httpx.MockTransport(fake.handler))
        eraser = eraser_over(stores, nocodb, StoredFiles(local=LocalUploads(tmp_path / "nc" / "uploads")))
        try:
            return await eraser.retry(pending)
        finally:
            await nocodb.aclose()

    record = asyncio.run(retry())
    assert files_in(tmp_path / "nc") == set() and record.id == pending.id
    assert (record.state, record.locations, record.detail) == (PurgeState.DONE, [], None)
    assert (record.files, record.bytes) == (1 + 2, 100 + len(b"cat bytes") + len(b"thumb"))


def _purges_counted(state: PurgeState) -> float:
    return REGISTRY.get_sample_value("facegate_purges_total", {"state": state.value}) or 0.0


def test_a_pending_purge_is_logged_and_counted_when_it_waits_and_when_it_ends(
    stores: Stores, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Erasure not configured: seven rows deleted one after the other. Each new purge retries every
    # pending one (Eraser.run on its wake-up); a purge still waiting says nothing more.
    fake = FakeNocoDB()
    rows = [fake.add(row_id, "obama", (f"{row_id}.jpg", b"bytes")) for row_id in range(1, 8)]
    on_disk(fake, tmp_path / "nc")
    for row in rows:
        del fake.rows[row["Id"]]
        _claim(stores, f"k{row['Id']}", row["Id"], location(row["Id"], f"{row['Id']}.jpg"))
    before = {state: _purges_counted(state) for state in PurgeState}

    async def scenario() -> None:
        nocodb = nocodb_client(httpx.MockTransport(fake.handler))
        eraser = eraser_over(stores, nocodb, StoredFiles(local=None))
        try:
            for row in rows:
                gone = GoneRow(f"k{row['Id']}", TABLE, row["Id"], row["Image"])
                await eraser.schedule([gone], trigger=PurgeTrigger.DELETED_IN_NOCODB)
                await eraser.retry_pending()
            assert _logged(caplog) == [f"row {r['Id']}: purge pending: {UNCONFIGURED_LOCAL}" for r in rows]
            caplog.clear()
            eraser.files.local = LocalUploads(tmp_path / "nc" / "uploads")  # the folder is configured
            assert await eraser.retry_pending() == 7
            await eraser.retry_pending()  # nothing left: nothing said
        finally:
            await nocodb.aclose()

    with caplog.at_level(logging.INFO, logger="app.erasure.service"):
        asyncio.run(scenario())
    assert _logged(caplog) == [f"row {r['Id']}: pending purge done, 2 files, 10 bytes" for r in rows]
    assert files_in(tmp_path / "nc") == set()
    counted = {state: _purges_counted(state) - before[state] for state in PurgeState}
    assert counted == {PurgeState.PENDING: 7, PurgeState.DONE: 7, PurgeState.REFUSED: 0, PurgeState.KEPT: 0}


def test_a_scheduled_purge_done_at_once_is_counted_done_only(
    stores: Stores, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", b"bytes"))
    on_disk(fake, tmp_path / "nc")
    del fake.rows[1]
    _claim(stores, "k1", 1, location(1, "a.jpg"))
    before = {state: _purges_counted(state) for state in PurgeState}

    async def scenario() -> None:
        nocodb = nocodb_client(httpx.MockTransport(fake.handler))
        uploads = LocalUploads(tmp_path / "nc" / "uploads")
        eraser = eraser_over(stores, nocodb, StoredFiles(local=uploads))
        try:
            await eraser.schedule([GoneRow("k1", TABLE, 1, row["Image"])], trigger=PurgeTrigger.DELETED)
            assert await eraser.retry_pending() == 1
        finally:
            await nocodb.aclose()

    with caplog.at_level(logging.INFO, logger="app.erasure.service"):
        asyncio.run(scenario())
    assert _logged(caplog) == ["row 1: purge done, 2 files, 10 bytes"]
    counted = {state: _purges_counted(state) - before[state] for state in PurgeState}
    assert counted == {PurgeState.PENDING: 0, PurgeState.DONE: 1, PurgeState.REFUSED: 0, PurgeState.KEPT: 0}


def _claim(stores: Stores, key: str, row_id: int, where: str) -> None:
    """What provenance recorded when it proved the upload's file its own."""
    stores.claims.claim(location=where, row_key=key, table_id=TABLE, row_id=row_id, source=UploadSource.FORM)


def _logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "app.erasure.service"]
