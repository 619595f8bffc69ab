"""Forged and foreign attachments on the real NocoDB (issue 26, point 1): a public-form row that names a
file its submission did not upload (the form's own logo and banner, another base's private photo, an
operator's file put into an anonymous row) is rejected as ``foreign_attachment``; the file is neither
approved, published nor erased. Genuine form uploads and the operator's own API rows are moderated."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.erasure.local import stored_location
from harness.images import sample
from harness.loop import FIELDS, Loop, running_loop
from harness.nocodb import LocalNocoDB

SETTLE_SECONDS = 2.0  # after the rejection: what an eraser would have erased by then


@pytest.fixture(scope="module")
def loop(nocodb: LocalNocoDB, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    workdir = tmp_path_factory.mktemp("facegate")
    with running_loop(nocodb, workdir, base_title="provenance", sweep_seconds=3600) as running:
        yield running


def _files(loop: Loop, attachment: dict[str, Any]) -> list[Path]:
    """The upload's file on NocoDB's disk and its thumbnails (NocoDB makes them in the background)."""
    location = stored_location(attachment)
    assert location is not None
    uploads = loop.nocodb.uploads_dir
    thumbnails = uploads.parent / "thumbnails" / location
    deadline = time.monotonic() + 30
    while not (thumbnails.is_dir() and len(list(thumbnails.iterdir())) >= 3) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [uploads / location, *sorted(thumbnails.iterdir())]


def _forged(loop: Loop, politician: str, attachment: dict[str, Any]) -> dict[str, Any]:
    """A public-form row whose attachment cell names ``attachment``'s file, no file sent."""
    cell = [{"path": attachment["path"], "title": "me.jpg", "mimetype": "image/jpeg"}]
    response = httpx.post(
        f"{loop.nocodb.url}/api/v2/public/shared-view/{loop.setup.form_uuid}/rows",
        files={"data": (None, json.dumps({FIELDS.politician: politician, FIELDS.image: cell}))},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    row: dict[str, Any] = response.json()
    return row


def _rejected_as_foreign(loop: Loop, row: dict[str, Any]) -> dict[str, Any]:
    loop.wait_final(row, "deleted")
    (decision,) = [d for d in loop.decisions(row["Id"]) if d["action"] is not None][:1]
    assert (decision["decision"], decision["reason"], decision["action"]) == (
        "rejected",
        "foreign_attachment",
        "deleted",
    ), decision
    return decision


def _approved_politicians(loop: Loop) -> list[int]:
    return [i["id"] for i in httpx.get(f"{loop.facegate.url}/approved", timeout=10).json()["items"]]


def test_the_forms_logo_and_banner_are_not_an_upload(loop: Loop) -> None:
    # An editor sets the form's logo and banner; their paths are in the form's public meta.
    with loop.api() as api:
        for field, name in (("logo_url", "logo.jpg"), ("banner_image_url", "banner.jpg")):
            stored = api.post(
                "/api/v2/storage/upload", files={"files": (name, sample("obama2.jpg"), "image/jpeg")}
            )
            stored.raise_for_status()
            api.patch(
                f"/api/v2/meta/forms/{loop.setup.form_view_id}", json={field: stored.json()[0]}
            ).raise_for_status()
    meta = httpx.get(f"{loop.nocodb.url}/api/v2/public/shared-view/{loop.setup.form_uuid}/meta", timeout=10)
    view = meta.json()["view"]
    published = _approved_politicians(loop)
    for field in ("logo_url", "banner_image_url"):
        files = _files(loop, view[field])
        row = _forged(loop, "obama", view[field])  # obama's face: approved, before facegate proved uploads
        decision = _rejected_as_foreign(loop, row)
        assert "NocoDB user" in decision["detail"] or "operator" in decision["detail"]
        time.sleep(SETTLE_SECONDS)
        assert all(f.exists() for f in files), f"{field}: {[f for f in files if not f.exists()]}"
        assert decision["purge"]["files"] == 0
    assert _approved_politicians(loop) == published


def _private_photo(loop: Loop) -> dict[str, Any]:
    """A photo in a table of another base, uploaded by an editor: not public anywhere."""
    with loop.api() as api:
        base = api.post("/api/v2/meta/bases", json={"title": "Private"})
        base.raise_for_status()
        columns = [{"title": "Name", "uidt": "SingleLineText"}, {"title": "Photo", "uidt": "Attachment"}]
        table = api.post(
            f"/api/v2/meta/bases/{base.json()['id']}/tables", json={"title": "Staff", "columns": columns}
        )
        table.raise_for_status()
        stored = api.post(
            "/api/v2/storage/upload", files={"files": ("staff.jpg", sample("obama3.jpg"), "image/jpeg")}
        )
        stored.raise_for_status()
        records = f"/api/v2/tables/{table.json()['id']}/records"
        api.post(records, json=[{"Name": "someone", "Photo": stored.json()}]).raise_for_status()
        (row,) = api.get(records).json()["list"]
    photo: dict[str, Any] = row["Photo"][0]
    return photo


def test_another_bases_private_photo_is_not_approved_published_or_erased(loop: Loop) -> None:
    photo = _private_photo(loop)
    files = _files(loop, photo)
    published = _approved_politicians(loop)
    row = _forged(loop, "obama", photo)  # obama's face: it was approved and published before
    _rejected_as_foreign(loop, row)  # deleted by facegate as a rejection: its named file is not erased
    time.sleep(SETTLE_SECONDS)
    assert all(f.exists() for f in files)
    assert _approved_politicians(loop) == published
    response = httpx.get(f"{loop.nocodb.url}/{photo['signedPath']}", timeout=10)
    assert response.status_code == 200 and response.content == sample("obama3.jpg")


def test_an_operators_file_put_into_a_form_row_is_foreign(loop: Loop) -> None:
    # An editor swaps the picture of a visitor's approved row for one of its own uploads.
    row = loop.submit("obama", sample("obama2.jpg"))
    loop.wait_final(row, "approved")
    with loop.api() as api:
        stored = api.post(
            "/api/v2/storage/upload", files={"files": ("swap.jpg", sample("obama3.jpg"), "image/jpeg")}
        )
        stored.raise_for_status()
        records = f"/api/v2/tables/{loop.setup.table_id}/records"
        api.patch(records, json={"Id": row["Id"], FIELDS.image: stored.json()}).raise_for_status()
    files = _files(loop, stored.json()[0])  # the row may be gone already
    _rejected_as_foreign(loop, row)
    time.sleep(SETTLE_SECONDS)
    assert all(f.exists() for f in files)


def test_genuine_form_uploads_and_the_operators_own_rows_are_moderated(loop: Loop) -> None:
    form = loop.submit("obama", sample("obama2.jpg"), "my photo (1)+final.jpg")
    loop.wait_final(form, "approved")
    with loop.api() as api:  # the operator's rows: its own uploads, in rows it creates
        stored = api.post(
            "/api/v2/storage/upload", files={"files": ("op.jpg", sample("biden.jpg"), "image/jpeg")}
        )
        stored.raise_for_status()
        records = f"/api/v2/tables/{loop.setup.table_id}/records"
        body = [{FIELDS.politician: p, FIELDS.image: stored.json()} for p in ("biden", "obama")]
        ids = [r["Id"] for r in api.post(records, json=body).json()]
        rows = [api.get(f"{records}/{i}").json() for i in ids]
    loop.wait_final(rows[0], "approved")
    loop.wait_final(rows[1], "deleted")  # biden's face, named obama: the shared file stays for row 0
    files = _files(loop, rows[0][FIELDS.image][0])
    assert files[0].exists()
    assert [d["reason"] for d in loop.decisions(rows[1]["Id"])][:1] == ["no_match"]
