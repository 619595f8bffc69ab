"""Erasure on the real NocoDB: a rejected upload's files leave NocoDB's disk and its links die."""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.erasure.local import stored_location
from harness.images import sample
from harness.loop import FIELDS, OPERATOR_KEY, Loop, running_loop
from harness.nocodb import LocalNocoDB

GONE_TIMEOUT_SECONDS = 30.0


@pytest.fixture(scope="module")
def loop(nocodb: LocalNocoDB, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    # No periodic sweep: what is erased after a moderator's deletion comes from the webhook.
    workdir = tmp_path_factory.mktemp("facegate")
    with running_loop(nocodb, workdir, base_title="erasure", sweep_seconds=3600) as running:
        yield running


def _stored(loop: Loop, row: dict[str, Any]) -> tuple[str, Path, Path]:
    """The upload's signed link (NocoDB runs with secure attachments), its file on NocoDB's disk and
    the folder of its thumbnails."""
    (attachment,) = row["Image"]
    location = stored_location(attachment)
    assert location is not None
    uploads = loop.nocodb.uploads_dir
    return attachment["signedPath"], uploads / location, uploads.parent / "thumbnails" / location


def test_nocodb_serves_attachments_only_through_signed_links(loop: Loop) -> None:
    row = loop.submit("obama", sample("cat.png"))
    (attachment,) = row["Image"]
    assert httpx.get(f"{loop.nocodb.url}/{attachment['path']}", timeout=10).status_code == 404
    assert httpx.get(f"{loop.nocodb.url}/{attachment['signedPath']}", timeout=10).status_code == 200
    loop.wait_final(row, "deleted")


def _purges(loop: Loop) -> float:
    """Purges facegate has logged as done, from its metrics."""
    metrics = httpx.get(f"{loop.facegate.url}/metrics", headers={"X-API-Key": OPERATOR_KEY}, timeout=10)
    metrics.raise_for_status()
    found = re.search(r'^facegate_purges_total\{state="done"\} (\S+)$', metrics.text, re.MULTILINE)
    return float(found[1]) if found else 0.0


def test_a_rejected_upload_leaves_nocodbs_disk_and_its_link_dies(loop: Loop) -> None:
    started = time.monotonic()
    row = loop.submit("obama", sample("cat.png"), "my-cat.png")
    path, original, thumbnails = _stored(loop, row)
    assert original.exists()
    assert httpx.get(f"{loop.nocodb.url}/{path}", timeout=10).status_code == 200
    loop.wait_final(row, "deleted", started)
    deadline = time.monotonic() + GONE_TIMEOUT_SECONDS
    while (original.exists() or thumbnails.exists()) and time.monotonic() < deadline:
        time.sleep(0.05)
    gone_after = time.monotonic() - started
    assert not original.exists() and not thumbnails.exists()
    assert httpx.get(f"{loop.nocodb.url}/{path}", timeout=10).status_code == 404
    assert not any(p.name.startswith("my-cat") for p in original.parent.iterdir())
    # Nor in NocoDB's audit log (off): it would keep the uploader's address and the file's name.
    with contextlib.closing(sqlite3.connect(loop.nocodb.data_dir / "noco.db")) as meta:
        audited = meta.execute("SELECT COUNT(*) FROM nc_audit_v2 WHERE details LIKE '%my-cat%'").fetchone()
    assert audited == (0,)
    decision = loop.decisions(row["Id"])[0]  # newest first: NocoDB on SQLite reuses a deleted row's Id
    assert decision["action"] == "deleted"
    # The original and NocoDB's thumbnails (made in the background: some or all of them by then).
    assert decision["purge"]["state"] == "done" and decision["purge"]["files"] >= 2
    print(f"\n[erasure] submission to file gone: {gone_after:.2f}s")


def test_an_approved_upload_keeps_its_file(loop: Loop) -> None:
    row = loop.submit("obama", sample("obama2.jpg"))
    loop.wait_final(row, "approved")
    path, original, _ = _stored(loop, row)
    assert original.exists()
    assert httpx.get(f"{loop.nocodb.url}/{path}", timeout=10).status_code == 200


def test_a_forged_row_pointing_at_an_approved_file_does_not_erase_it(loop: Loop) -> None:
    # The public form accepts attachment JSON with any path: a row naming another row's file.
    approved = loop.submit("obama", sample("obama3.jpg"))
    loop.wait_final(approved, "approved")
    path, original, thumbnails = _stored(loop, approved)
    purged_before = _purges(loop)
    (attachment,) = approved["Image"]
    forged_cell = [{"path": attachment["path"], "title": "forged.jpg", "mimetype": "image/jpeg"}]
    response = httpx.post(
        f"{loop.nocodb.url}/api/v2/public/shared-view/{loop.setup.form_uuid}/rows",
        data={"data": json.dumps({FIELDS.politician: "biden", FIELDS.image: forged_cell})},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    forged = response.json()
    loop.wait_final(forged, "deleted")  # obama's face, but the row names biden
    deadline = time.monotonic() + GONE_TIMEOUT_SECONDS
    while _purges(loop) < purged_before + 1 and time.monotonic() < deadline:
        time.sleep(0.1)  # the purge follows the deletion
    assert _purges(loop) == purged_before + 1
    assert original.exists() and thumbnails.exists()
    assert httpx.get(f"{loop.nocodb.url}/{path}", timeout=10).status_code == 200


def _carousel(loop: Loop) -> list[dict[str, Any]]:
    response = httpx.get(f"{loop.facegate.url}/approved", params={"politician": "obama"}, timeout=10)
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _wait_gone(*paths: Path) -> float:
    started = time.monotonic()
    while any(p.exists() for p in paths) and time.monotonic() - started < GONE_TIMEOUT_SECONDS:
        time.sleep(0.05)
    return time.monotonic() - started


def test_an_approved_upload_a_moderator_deletes_leaves_nocodbs_disk(loop: Loop) -> None:
    row = loop.submit("obama", sample("obama2.jpg"))
    loop.wait_final(row, "approved")
    link, original, thumbnails = _stored(loop, row)
    newest = _carousel(loop)[0]  # this upload: the tests of this module run one after the other
    assert httpx.get(loop.facegate.url + newest["image_url"], timeout=10).status_code == 200
    with loop.api() as api:  # the moderator, in NocoDB
        records = f"/api/v2/tables/{loop.setup.table_id}/records"
        api.request("DELETE", records, json=[{"Id": row["Id"]}]).raise_for_status()
    gone_after = _wait_gone(original, thumbnails)
    assert not original.exists() and not thumbnails.exists()
    assert httpx.get(f"{loop.nocodb.url}/{link}", timeout=10).status_code == 404
    assert newest["id"] not in [item["id"] for item in _carousel(loop)]
    assert httpx.get(loop.facegate.url + newest["image_url"], timeout=10).status_code == 404
    decision = loop.decisions(row["Id"])[0]
    assert decision["purge"]["trigger"] == "deleted_in_nocodb" and decision["purge"]["state"] == "done"
    print(f"\n[erasure] moderator's deletion to file gone: {gone_after:.2f}s")
