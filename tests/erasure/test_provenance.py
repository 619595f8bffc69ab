"""Whose file an attachment is: form uploads written with their row and claimed once, the operator's
uploads in its own rows; anything else is foreign. A fake NocoDB and a real uploads folder."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.erasure.claims import UploadSource
from app.erasure.files import StorageNotConfigured, StoredFiles
from app.erasure.local import LocalUploads
from app.erasure.provenance import (
    FORM_FOLDER,
    ForeignAttachment,
    Provenance,
    Submission,
    like_fragment,
    object_hash,
)
from app.moderation.download import Downloader
from app.moderation.holds import Held
from app.moderation.rows import parse_row, row_key
from app.outcomes import HoldReason
from app.verification import FaceService
from harness.loop import FIELDS
from tests.utils.erasure import on_disk
from tests.utils.fake_nocodb import OPERATOR, TABLE, WRITTEN_AT, FakeNocoDB, location
from tests.utils.moderation import MAX_DOWNLOAD_BYTES, decider, nocodb_client
from tests.utils.stores import Stores

OPERATOR_FOLDER = object_hash(OPERATOR)


def test_the_form_folder_is_nocodbs_hash_of_anonymous() -> None:
    # Checked with node's object-hash against NocoDB 0.301.3: every public-form upload lands there.
    assert FORM_FOLDER == "60e65c63f9091a580cbaec91b037645612f9eb7e"


def _submission(row: dict[str, Any]) -> Submission:
    parsed = parse_row(row, FIELDS)
    return Submission(TABLE, row_key(TABLE, parsed), parsed.row_id, parsed.created_at, parsed.attachments)


def _prove(fake: FakeNocoDB, stores: Stores, files: StoredFiles, row: dict[str, Any]) -> None:
    async def main() -> None:
        nocodb = nocodb_client(httpx.MockTransport(fake.handler))
        provenance = Provenance(nocodb=nocodb, files=files, claims=stores.claims, image_field=FIELDS.image)
        try:
            await provenance.prove(_submission(row))
        finally:
            await nocodb.aclose()

    asyncio.run(main())


def _uploads(fake: FakeNocoDB, tmp_path: Path) -> StoredFiles:
    return StoredFiles(local=LocalUploads(on_disk(fake, tmp_path / "nc")))


def _foreign(fake: FakeNocoDB, stores: Stores, files: StoredFiles, row: dict[str, Any]) -> str:
    with pytest.raises(ForeignAttachment) as refused:
        _prove(fake, stores, files, row)
    return refused.value.detail


def _owned(stores: Stores, row: dict[str, Any]) -> dict[str, UploadSource]:
    submission = _submission(row)
    return stores.claims.owned(submission.row_key, [location(row["Id"], "a.jpg")])


def _moved(row: dict[str, Any], folder: str, name: str = "a_xYz12.jpg") -> str:
    """Point the row's attachment at ``folder``/``name`` (the file is moved there on disk later)."""
    where = f"2026/01/01/{folder}/{name}"
    row["Image"][0]["path"] = f"download/{where}"
    return where


def test_a_form_upload_written_just_before_its_row_is_claimed(stores: Stores, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", b"jpeg"))
    files = _uploads(fake, tmp_path)
    _prove(fake, stores, files, row)
    assert _owned(stores, row) == {location(1, "a.jpg"): UploadSource.FORM}
    _prove(fake, stores, files, row)  # proved again (a replay): the same claim


def test_a_name_too_long_for_any_file_system_is_foreign_not_waited_for(
    stores: Stores, tmp_path: Path
) -> None:
    # lstat would fail with ENAMETOOLONG: taken for an outage, the row would be retried for ever.
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", b"jpeg"))
    files = _uploads(fake, tmp_path)
    _moved(row, FORM_FOLDER, "A" * 300 + "_abcde.jpg")
    assert "not a NocoDB upload location" in _foreign(fake, stores, files, row)


def test_a_form_upload_written_long_before_the_row_is_foreign(stores: Stores, tmp_path: Path) -> None:
    # An approved picture, a deleted row's file or another base's form upload, named by a new row.
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", b"jpeg"))
    files = _uploads(fake, tmp_path)
    older = WRITTEN_AT - 3600
    os.utime(tmp_path / "nc" / "uploads" / location(1, "a.jpg"), (older, older))
    assert "written 3600 s before the row" in _foreign(fake, stores, files, row)
    assert _owned(stores, row) == {}


def test_the_rows_own_files_after_a_foreign_one_are_claimed_all_the_same(
    stores: Stores, tmp_path: Path
) -> None:
    # The row is rejected (foreign_attachment), and deleted: its own pictures must be erased with it.
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", b"jpeg"), ("b.jpg", b"jpeg"))
    files = _uploads(fake, tmp_path)
    older = WRITTEN_AT - 3600
    os.utime(tmp_path / "nc" / "uploads" / location(1, "a.jpg"), (older, older))  # the first is foreign
    assert "written 3600 s before the row" in _foreign(fake, stores, files, row)
    own = location(1, "b.jpg")
    assert stores.claims.owned(_submission(row).row_key, [own]) == {own: UploadSource.FORM}


def test_a_missing_file_or_a_link_is_foreign(stores: Stores, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", b"jpeg"))
    files = _uploads(fake, tmp_path)
    original = tmp_path / "nc" / "uploads" / location(1, "a.jpg")
    original.unlink()
    assert "does not have the file" in _foreign(fake, stores, files, row)
    original.symlink_to(tmp_path / "elsewhere.jpg")
    (tmp_path / "elsewhere.jpg").write_bytes(b"jpeg")
    assert "symbolic link" in _foreign(fake, stores, files, row)


@pytest.mark.parametrize(
    ("folder", "name", "why"),
    [
        (OPERATOR_FOLDER, "logo_AbC12.png", "in a row the operator did not create"),
        (object_hash("usaneditor"), "banner_AbC12.png", "uploaded by a NocoDB user"),
        (FORM_FOLDER, "no-random-suffix.jpg", "not one NocoDB gives an upload"),
    ],
    ids=["operator's file in a form row", "an editor's file", "not NocoDB's name"],
)
def test_a_file_the_form_did_not_upload_is_foreign(
    stores: Stores, tmp_path: Path, folder: str, name: str, why: str
) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", b"jpeg"))
    where = _moved(row, folder, name)
    files = _uploads(fake, tmp_path)
    (tmp_path / "nc" / "uploads" / where).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "nc" / "uploads" / location(1, "a.jpg")).rename(tmp_path / "nc" / "uploads" / where)
    assert why in _foreign(fake, stores, files, row)


def test_a_form_upload_of_another_day_is_foreign(stores: Stores, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", b"jpeg"))
    row["Image"][0]["path"] = row["Image"][0]["path"].replace("2026/01/01", "2025/12/29")
    assert "another day" in _foreign(fake, stores, _uploads(fake, tmp_path), row)


def test_a_file_an_earlier_row_names_is_that_rows(stores: Stores, tmp_path: Path) -> None:
    # The forged row is decided first (its webhook came first): the earlier row keeps its file.
    fake = FakeNocoDB()
    genuine = fake.add(1, "obama", ("a.jpg", b"jpeg"))
    forged = fake.add(2, "biden")
    forged["Image"] = genuine["Image"]
    files = _uploads(fake, tmp_path)
    assert "Row 1, created before this one" in _foreign(fake, stores, files, forged)
    _prove(fake, stores, files, genuine)


def test_a_file_claimed_first_by_another_upload_is_foreign(stores: Stores, tmp_path: Path) -> None:
    # The row that uploaded the file was decided, then deleted (its purge not done yet).
    fake = FakeNocoDB()
    genuine = fake.add(1, "obama", ("a.jpg", b"jpeg"))
    files = _uploads(fake, tmp_path)
    _prove(fake, stores, files, genuine)
    del fake.rows[1]
    forged = fake.add(2, "biden")
    forged["Image"] = genuine["Image"]
    assert "claimed the same file first" in _foreign(fake, stores, files, forged)


def test_the_operators_upload_in_the_operators_rows_is_shared(stores: Stores, tmp_path: Path) -> None:
    # Rows the operator inserts through the API, naming one file it uploaded through the storage API.
    fake = FakeNocoDB()
    first, second = fake.add(1, "obama", ("a.jpg", b"jpeg")), fake.add(2, "obama")
    where = _moved(first, OPERATOR_FOLDER)
    second["Image"] = first["Image"]
    files = _uploads(fake, tmp_path)
    fake.created_by_operator = {1, 2}
    for row in (first, second):
        _prove(fake, stores, files, row)
        assert stores.claims.owned(_submission(row).row_key, [where]) == {where: UploadSource.OPERATOR}


def test_without_any_storage_the_row_is_held(faces: FaceService, stores: Stores) -> None:
    # Every row would be foreign: the operator's to fix, so the row waits undecided and untouched.
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", b"jpeg"))
    with pytest.raises(StorageNotConfigured, match="FACEGATE_NOCODB_UPLOADS_DIR"):
        _prove(fake, stores, StoredFiles(local=None), row)

    async def decide() -> None:
        transport = httpx.MockTransport(fake.handler)
        nocodb = nocodb_client(transport)
        claims, files = stores.claims, StoredFiles(local=None)
        provenance = Provenance(nocodb=nocodb, files=files, claims=claims, image_field=FIELDS.image)
        downloader = Downloader(nocodb=nocodb, fields=FIELDS, max_bytes=MAX_DOWNLOAD_BYTES)
        try:
            await decider(transport, faces, downloader, provenance).decide(parse_row(row, FIELDS), TABLE)
        finally:
            await nocodb.aclose()

    with pytest.raises(Held) as held:
        asyncio.run(decide())
    assert held.value.reason is HoldReason.STORAGE_NOT_CONFIGURED
    assert not any(path.startswith("/download/") for _, path in fake.calls)  # nothing downloaded


def test_an_object_url_without_a_bucket_is_foreign(stores: Stores, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", b"jpeg"))
    row["Image"] = [{"id": "x", "url": f"http://nocodb.test/nc/uploads/{location(1, 'a.jpg')}"}]
    assert "not configured" in _foreign(fake, stores, _uploads(fake, tmp_path), row)


def test_a_location_the_download_refuses_is_left_to_it(stores: Stores, tmp_path: Path) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", b"jpeg"))
    row["Image"] = [{"id": "x", "url": "https://evil.test/a.jpg"}]
    _prove(fake, stores, _uploads(fake, tmp_path), row)  # unreadable_image, with no request
    assert fake.calls == []


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("obama2_2TQvk.jpg", "obama2_2TQvk.jpg"),
        ("my file (1)+x_db41N.jpg", "x_db41N.jpg"),
        ("été (copie)_Ab-_9.jpeg", "_Ab-_9.jpeg"),
        ("a,b~c_AbCdE", "c_AbCdE"),
    ],
)
def test_a_lookup_by_name_carries_the_random_suffix_whatever_the_name(name: str, fragment: str) -> None:
    assert like_fragment(f"2026/01/01/{FORM_FOLDER}/{name}") == fragment
