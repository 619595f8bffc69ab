"""The storage probe: a file stored through NocoDB must be found where facegate's settings look for
uploads, written at NocoDB's time, or no upload is proved (every one would look forged). A fake
NocoDB that writes the probe file into a folder of the test's choosing; the real one is in
tests/api/test_readyz_nocodb.py."""

from __future__ import annotations

import asyncio
import os
import time
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest

from app.erasure.files import StoredFiles
from app.erasure.local import LocalUploads
from app.erasure.probe import StorageProbe
from app.erasure.provenance import Provenance, Submission
from app.errors import NotReady
from app.readiness import Check
from tests.utils.moderation import nocodb_client
from tests.utils.stores import Stores

REL = "2026/12/06/592c1c4b0b393913a1f07e9fe96671fd61a4cf47/facegate-storage-probe_AbCdE.png"


class Storage:
    """NocoDB's answer to ``/api/v2/storage/upload``: the file written into ``writes_to``."""

    def __init__(self, writes_to: Path, *, item: dict[str, str] | None = None, skew: float = 0.0) -> None:
        self.writes_to = writes_to
        self.item = item or {"path": f"download/{REL}", "signedPath": f"dltemp/t/1/{REL}"}
        self.skew = skew  # the storage's clock less NocoDB's
        self.uploads = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v2/storage/upload"
        self.uploads += 1
        target = self.writes_to / REL
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"png")
        now = time.time()
        os.utime(target, (now + self.skew, now + self.skew))
        (self.writes_to.parent / "thumbnails" / REL).mkdir(parents=True, exist_ok=True)
        return httpx.Response(200, json=[self.item], headers={"date": formatdate(now, usegmt=True)})


def _check(storage: Storage, looks_in: Path | None, times: int = 1) -> tuple[list[Check], list[bool]]:
    """``times`` checks by one probe; whether the probe file is still in NocoDB's folder after each."""

    async def main() -> tuple[list[Check], list[bool]]:
        client = nocodb_client(httpx.MockTransport(storage.handler))
        files = StoredFiles(local=LocalUploads(looks_in) if looks_in is not None else None)
        probe = StorageProbe(client, files)
        checks, left = [], []
        for _ in range(times):
            checks.append(await probe.check())
            left.append((storage.writes_to / REL).exists())
        await client.aclose()
        return checks, left

    return asyncio.run(main())


def test_a_probe_file_found_in_the_uploads_folder_passes_and_is_erased(tmp_path: Path) -> None:
    uploads = tmp_path / "nc" / "uploads"
    storage = Storage(uploads)
    checks, left = _check(storage, uploads, times=2)
    assert [c.passed for c in checks] == [True, True] and left == [False, False]
    assert storage.uploads == 1  # passed once: not stored again
    assert not (tmp_path / "nc" / "thumbnails" / REL).exists()  # erased again at the next check


def test_a_folder_that_is_not_nocodbs_fails_and_one_probe_file_at_most_is_left(tmp_path: Path) -> None:
    elsewhere = tmp_path / "mounted-by-mistake"
    elsewhere.mkdir()
    storage = Storage(tmp_path / "nc" / "uploads")
    checks, _ = _check(storage, elsewhere, times=3)
    assert all(c.reason == "storage_mismatch" for c in checks)
    assert "FACEGATE_NOCODB_UPLOADS_DIR NocoDB's nc/uploads folder" in checks[0].detail
    assert storage.uploads == 1  # looked for again, not stored again


@pytest.mark.parametrize("skew", [-40.0, 10.0])
def test_a_storage_clock_off_nocodbs_fails(tmp_path: Path, skew: float) -> None:
    uploads = tmp_path / "nc" / "uploads"
    (check,), _ = _check(Storage(uploads, skew=skew), uploads)
    assert check.reason == "storage_mismatch" and "s off NocoDB's" in check.detail


def test_nocodb_storing_in_s3_while_facegate_looks_on_disk_fails(tmp_path: Path) -> None:
    uploads = tmp_path / "nc" / "uploads"
    item = {"url": f"http://nocodb.test/bucket/nc/uploads/{REL}"}
    (check,), _ = _check(Storage(uploads, item=item), uploads)
    assert check.reason == "storage_mismatch" and "in S3" in check.detail


def test_an_attachment_address_facegate_may_not_fetch_fails(tmp_path: Path) -> None:
    uploads = tmp_path / "nc" / "uploads"
    item = {"url": f"https://s3.example.org/bucket/nc/uploads/{REL}"}
    (check,), _ = _check(Storage(uploads, item=item), uploads)
    assert check.reason == "storage_mismatch" and "may not fetch" in check.detail


def test_no_upload_is_proved_while_the_probe_fails(stores: Stores, tmp_path: Path) -> None:
    async def main() -> None:
        client = nocodb_client(httpx.MockTransport(lambda request: httpx.Response(500)))
        provenance = Provenance(
            nocodb=client,
            files=StoredFiles(local=LocalUploads(tmp_path)),
            claims=stores.claims,
            image_field="Image",
            storage_problem=lambda: "the probe file is not in the uploads folder",
        )
        submission = Submission("t", "t:1:x", 1, "2026-12-06 10:00:00+00:00", [{"path": f"download/{REL}"}])
        with pytest.raises(NotReady, match="probe file is not in the uploads folder"):
            await provenance.prove(submission)
        await client.aclose()

    asyncio.run(main())


def test_no_upload_may_be_proved_before_the_probe_has_passed(tmp_path: Path) -> None:
    # NocoDB down at start: no probe yet, and provenance must not judge uploads on unchecked settings.
    uploads = tmp_path / "nc" / "uploads"
    storage = Storage(uploads)

    async def main() -> list[str | None]:
        client = nocodb_client(httpx.MockTransport(storage.handler))
        probe = StorageProbe(client, StoredFiles(local=LocalUploads(uploads)))
        seen = [probe.problem()]
        await probe.check()
        seen.append(probe.problem())
        await client.aclose()
        return seen

    before, after = asyncio.run(main())
    assert before is not None and "has not run yet" in before
    assert after is None
