"""The eraser on its own: files erased once the row has left NocoDB whatever happened before, only the
upload's own, at a cost that does not depend on the files' names, one upload never waiting for
another's purge. A fake NocoDB and a real uploads folder."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from app.erasure.claims import UploadSource
from app.erasure.files import StoredFiles
from app.erasure.local import LocalUploads
from app.erasure.provenance import object_hash
from app.erasure.service import KEPT_WHILE_LIVE, Eraser, GoneRow
from app.erasure.store import PurgeState, PurgeTrigger
from app.moderation.rows import parse_row, row_key
from harness.loop import FIELDS
from tests.utils.erasure import files_in, on_disk
from tests.utils.fake_nocodb import OPERATOR, TABLE, FakeNocoDB, location
from tests.utils.moderation import eraser_over, nocodb_client
from tests.utils.stores import Stores


@asynccontextmanager
async def _eraser(stores: Stores, fake: FakeNocoDB, nc: Path) -> AsyncIterator[Eraser]:
    nocodb = nocodb_client(httpx.MockTransport(fake.handler))
    try:
        yield eraser_over(stores, nocodb, StoredFiles(local=LocalUploads(nc / "uploads")))
    finally:
        await nocodb.aclose()


def _gone(row: dict[str, Any]) -> GoneRow:
    parsed = parse_row(row, FIELDS)
    return GoneRow(row_key(TABLE, parsed), TABLE, parsed.row_id, parsed.attachments)


def _claimed(stores: Stores, row: dict[str, Any], source: UploadSource = UploadSource.FORM) -> GoneRow:
    """The row's upload as provenance proved it: each file claimed."""
    gone = _gone(row)
    for attachment in row["Image"]:
        where = attachment["path"].removeprefix("download/")
        stores.claims.claim(
            location=where, row_key=gone.row_key, table_id=TABLE, row_id=gone.row_id, source=source
        )
    return gone


def _one_claimed_upload(stores: Stores, uploads: Path) -> tuple[FakeNocoDB, GoneRow]:
    """Row 1 of a fake NocoDB, its file in ``uploads`` and claimed as its form upload."""
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", b"jpeg"))
    on_disk(fake, uploads)
    return fake, _claimed(stores, row)


def test_a_withdrawn_upload_keeps_its_files_until_its_row_leaves(stores: Stores, tmp_path: Path) -> None:
    # Approved, set back to review by a moderator (the sweep withdraws it), deleted an hour later.
    fake, gone = _one_claimed_upload(stores, tmp_path / "nc")

    async def scenario() -> None:
        async with _eraser(stores, fake, tmp_path / "nc") as eraser:
            await eraser.schedule([gone], trigger=PurgeTrigger.NOT_APPROVED)
            assert await eraser.retry_pending() == 0
            kept = stores.purges.for_row(gone.row_key)
            assert kept is not None and (kept.state, kept.detail) == (PurgeState.KEPT, KEPT_WHILE_LIVE)
            assert kept.locations == [location(1, "a.jpg")] and files_in(tmp_path / "nc")
            del fake.rows[1]  # the moderator deletes it; the delete webhook reports it
            await eraser.schedule([gone], trigger=PurgeTrigger.DELETED_IN_NOCODB)
            assert await eraser.retry_pending() == 1

    asyncio.run(scenario())
    assert files_in(tmp_path / "nc") == set()
    done = stores.purges.for_row(gone.row_key)
    assert done is not None and (done.state, done.trigger, done.files) == (
        PurgeState.DONE,
        PurgeTrigger.DELETED_IN_NOCODB,
        2,
    )
    assert stores.claims.owned(gone.row_key, [location(1, "a.jpg")]) == {}  # released once erased


def test_a_kept_purge_is_finished_by_the_periodic_pass_when_the_webhook_is_lost(
    stores: Stores, tmp_path: Path
) -> None:
    fake, gone = _one_claimed_upload(stores, tmp_path / "nc")

    async def scenario() -> None:
        async with _eraser(stores, fake, tmp_path / "nc") as eraser:
            await eraser.schedule([gone], trigger=PurgeTrigger.NOT_APPROVED)
            await eraser.retry_pending()
            del fake.rows[1]  # no webhook
            assert await eraser.retry_pending() == 1

    asyncio.run(scenario())
    assert files_in(tmp_path / "nc") == set()


def test_a_moderators_rejection_racing_facegates_delete_still_erases(stores: Stores, tmp_path: Path) -> None:
    # The withdrawal's purge runs while the row is still there; facegate's DELETE follows.
    fake, gone = _one_claimed_upload(stores, tmp_path / "nc")

    async def scenario() -> None:
        async with _eraser(stores, fake, tmp_path / "nc") as eraser:
            await eraser.schedule([gone], trigger=PurgeTrigger.DELETED_IN_NOCODB)
            await eraser.retry_pending()  # kept: the row is there
            del fake.rows[1]
            record = await eraser.purge(gone, trigger=PurgeTrigger.DELETED)
            assert record is not None and record.state is PurgeState.DONE

    asyncio.run(scenario())
    assert files_in(tmp_path / "nc") == set()


def test_a_file_the_upload_did_not_claim_is_never_erased(stores: Stores, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", b"jpeg"))
    on_disk(fake, tmp_path / "nc")
    del fake.rows[1]

    async def scenario() -> None:
        async with _eraser(stores, fake, tmp_path / "nc") as eraser:
            record = await eraser.purge(_gone(row), trigger=PurgeTrigger.DELETED)
            assert record is not None and record.state is PurgeState.DONE and record.files == 0

    asyncio.run(scenario())
    assert files_in(tmp_path / "nc") and fake.calls == []  # nothing to ask NocoDB either


def test_an_operator_file_another_row_names_is_kept(stores: Stores, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    first, second = fake.add(1, "obama", ("a.jpg", b"jpeg")), fake.add(2, "obama")
    where = f"2026/01/01/{object_hash(OPERATOR)}/a_XyZ12.jpg"
    first["Image"][0]["path"] = f"download/{where}"
    second["Image"] = first["Image"]
    fake.files = {f"download/{where}": b"jpeg"}
    on_disk(fake, tmp_path / "nc")
    gone = _claimed(stores, first, UploadSource.OPERATOR)
    del fake.rows[1]

    async def purge(row: dict[str, Any]) -> None:
        async with _eraser(stores, fake, tmp_path / "nc") as eraser:
            await eraser.purge(_claimed(stores, row, UploadSource.OPERATOR), trigger=PurgeTrigger.DELETED)

    asyncio.run(purge(first))
    record = stores.purges.for_row(gone.row_key)
    assert record is not None and record.files == 0 and "another row of the operator" in (record.detail or "")
    del fake.rows[2]
    asyncio.run(purge(second))
    assert files_in(tmp_path / "nc") == set()


def _timed(
    fake: FakeNocoDB, released: asyncio.Event
) -> Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]:
    """The fake NocoDB, whose answer about row 1 waits for ``released``."""

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/records/1"):
            await released.wait()
        return fake.handler(request)

    return handler


def test_one_uploads_purge_never_waits_for_anothers(stores: Stores, tmp_path: Path) -> None:
    # NocoDB is slow to answer about row 1: row 2's purge (a rejected job's) is done meanwhile.
    fake = FakeNocoDB()
    slow, quick = fake.add(1, "obama", ("a.jpg", b"jpeg")), fake.add(2, "obama", ("b.jpg", b"jpeg"))
    on_disk(fake, tmp_path / "nc")
    fake.rows.clear()

    async def scenario() -> None:
        released = asyncio.Event()
        nocodb = nocodb_client(httpx.MockTransport(_timed(fake, released)))
        eraser = eraser_over(stores, nocodb, StoredFiles(local=LocalUploads(tmp_path / "nc" / "uploads")))
        try:
            first = asyncio.create_task(eraser.purge(_claimed(stores, slow), trigger=PurgeTrigger.DELETED))
            await asyncio.sleep(0.05)
            async with asyncio.timeout(5):
                record = await eraser.purge(_claimed(stores, quick), trigger=PurgeTrigger.DELETED)
            assert record is not None and record.state is PurgeState.DONE and not first.done()
            released.set()
            assert (await first) is not None
        finally:
            await nocodb.aclose()

    asyncio.run(scenario())
    assert files_in(tmp_path / "nc") == set()


def test_a_purge_costs_the_same_whatever_the_file_is_called(stores: Stores, tmp_path: Path) -> None:
    # 1,000 rows; the gone upload's name has spaces, parentheses and "+": one read of the row, and one
    # filtered listing that confirms it is gone.
    fake = FakeNocoDB()
    for row_id in range(2, 1002):
        fake.add(row_id, "obama", ("a.jpg", b"jpeg"))
    named = fake.add(1, "obama", ("my photo (1)+final.jpg", b"jpeg"))
    on_disk(fake, tmp_path / "nc")
    del fake.rows[1]

    async def purge() -> None:
        async with _eraser(stores, fake, tmp_path / "nc") as eraser:
            await eraser.purge(_claimed(stores, named), trigger=PurgeTrigger.DELETED)

    asyncio.run(purge())
    records = f"/api/v2/tables/{TABLE}/records"
    assert fake.calls == [("GET", f"{records}/1"), ("GET", records)]
    assert not (tmp_path / "nc" / "uploads" / location(1, "my photo (1)+final.jpg")).exists()
