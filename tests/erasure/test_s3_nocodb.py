"""Erasure on S3 for real: a NocoDB that stores its attachments in an S3-compatible bucket (moto), and
facegate erasing a rejected upload's object and thumbnails from that bucket."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.erasure.s3 import S3Uploads
from harness.images import sample
from harness.loop import FIELDS, Loop, running_loop
from harness.net import free_port
from harness.nocodb import LocalNocoDB, install
from harness.s3 import LocalS3, running_s3

GONE_TIMEOUT_SECONDS = 30.0


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3]:
    with running_s3(log_dir=tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(scope="module")
def nocodb(tmp_path_factory: pytest.TempPathFactory, s3: LocalS3) -> Iterator[LocalNocoDB]:
    """A NocoDB of its own whose attachments go to the moto bucket (its S3 plugin, set by NC_S3_*).

    It replaces the session's ``nocodb`` fixture in this module, so conftest marks these tests
    ``integration`` and allows for a cold install in the same way.
    """
    server = LocalNocoDB(install_dir=install(), extra_env=s3.nocodb_env(force_path_style=True))
    try:
        server.start(port=free_port(), data_dir=tmp_path_factory.mktemp("nocodb-s3"))
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def loop(nocodb: LocalNocoDB, s3: LocalS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    workdir = tmp_path_factory.mktemp("facegate")
    with running_loop(nocodb, workdir, base_title="s3 erasure", extra_env=s3.facegate_env()) as running:
        yield running


def _stored(s3: LocalS3, row: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
    """The row's attachment, its object key and the key prefix of its thumbnails."""
    (attachment,) = row["Image"]
    key = S3Uploads(bucket=s3.bucket, endpoint_url=s3.endpoint_url).key(attachment["url"])
    return attachment, key, f"nc/thumbnails/{key.removeprefix('nc/uploads/')}/"


def test_nocodb_stores_uploads_in_the_bucket(loop: Loop, s3: LocalS3) -> None:
    """What facegate relies on, as NocoDB 0.301.3 does it: the object at ``nc/uploads/...``, its ``url``
    always https (even for this http endpoint), a signed http link that serves it."""
    row = loop.submit("obama", sample("cat.png"), "a cat.png")
    attachment, key, _ = _stored(s3, row)
    assert s3.object_keys(key) == [key]
    assert attachment["url"].startswith(f"https://{s3.endpoint_url.removeprefix('http://')}/{s3.bucket}/")
    assert attachment["signedUrl"].startswith(f"{s3.endpoint_url}/{s3.bucket}/")
    assert httpx.get(attachment["signedUrl"], timeout=10).content == sample("cat.png")
    assert not loop.nocodb.uploads_dir.exists() or not any(loop.nocodb.uploads_dir.rglob("*.png"))
    loop.wait_final(row, "deleted")


def test_a_rejected_upload_leaves_the_bucket(loop: Loop, s3: LocalS3) -> None:
    started = time.monotonic()
    row = loop.submit("obama", sample("cat.png"), "my-cat.png")
    attachment, key, thumbnails = _stored(s3, row)
    assert s3.object_keys(key) == [key]
    loop.wait_final(row, "deleted", started)
    deadline = time.monotonic() + GONE_TIMEOUT_SECONDS
    while (s3.object_keys(key) or s3.object_keys(thumbnails)) and time.monotonic() < deadline:
        time.sleep(0.1)
    gone_after = time.monotonic() - started
    assert s3.object_keys(key) == [] and s3.object_keys(thumbnails) == []
    assert not [k for k in s3.object_keys() if "my-cat" in k]
    # S3 answers 403 rather than 404 for a missing key to a link that may not list the bucket.
    assert httpx.get(attachment["signedUrl"], timeout=10).status_code in {403, 404}
    purge = loop.decisions(row["Id"])[0]["purge"]  # newest first: NocoDB on SQLite reuses Ids
    assert purge["state"] == "done"
    assert purge["files"] == 4  # the original and NocoDB's three thumbnails
    assert purge["bytes"] > len(sample("cat.png"))
    print(f"\n[erasure] submission to object gone: {gone_after:.2f}s")


def test_an_approved_upload_keeps_its_object(loop: Loop, s3: LocalS3) -> None:
    row = loop.submit("obama", sample("obama2.jpg"))
    loop.wait_final(row, "approved")
    attachment, key, _ = _stored(s3, row)
    assert s3.object_keys(key) == [key]
    assert httpx.get(attachment["signedUrl"], timeout=10).status_code == 200


def test_a_forged_row_pointing_at_an_approved_object_does_not_erase_it(loop: Loop, s3: LocalS3) -> None:
    # NocoDB's public form fetches a pasted url into a new object (here it fails: the url is https),
    # so the forgery is an insert through the records API: a row naming another row's object.
    approved = loop.submit("obama", sample("obama3.jpg"))
    loop.wait_final(approved, "approved")
    attachment, key, thumbnails = _stored(s3, approved)
    forged_cell = [{"url": attachment["url"], "title": "forged.jpg", "mimetype": "image/jpeg"}]
    with loop.api() as api:
        response = api.post(
            f"/api/v2/tables/{loop.setup.table_id}/records",
            json={FIELDS.politician: "biden", FIELDS.image: forged_cell},
        )
    assert response.status_code == 200, response.text
    forged = response.json()
    loop.wait_final(forged, "deleted")  # not its own upload: rejected before any download (issue 26)
    assert loop.decisions(forged["Id"])[0]["reason"] == "foreign_attachment"
    deadline = time.monotonic() + GONE_TIMEOUT_SECONDS
    while time.monotonic() < deadline:  # the purge follows the deletion (its webhook may schedule it first)
        purge = loop.decisions(forged["Id"])[0]["purge"]
        if purge is not None and purge["state"] != "pending":
            break
        time.sleep(0.1)
    assert purge is not None and purge["state"] == "done" and purge["files"] == 0
    assert "not this upload's own" in purge["detail"]
    assert s3.object_keys(key) == [key] and len(s3.object_keys(thumbnails)) == 3
