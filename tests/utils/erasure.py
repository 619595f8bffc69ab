"""A real folder shaped like NocoDB's local storage, for the fake NocoDB's files."""

from __future__ import annotations

import os
from pathlib import Path

from app.erasure.provenance import created_epoch
from tests.utils.fake_nocodb import WRITTEN_AT, FakeNocoDB

THUMBNAIL = b"thumb"


def on_disk(fake: FakeNocoDB, nc: Path) -> Path:
    """Write the fake's files where NocoDB would keep them, with a thumbnail each, as written just before
    their rows were created; the uploads folder."""
    written = _written_at(fake)
    for path, data in fake.files.items():
        rel = path.removeprefix("download/")
        (nc / "uploads" / rel).parent.mkdir(parents=True, exist_ok=True)
        (nc / "uploads" / rel).write_bytes(data)
        when = written.get(path, WRITTEN_AT)
        os.utime(nc / "uploads" / rel, (when, when))
        (nc / "thumbnails" / rel).mkdir(parents=True, exist_ok=True)
        (nc / "thumbnails" / rel / "tiny.jpg").write_bytes(THUMBNAIL)
    return nc / "uploads"


def _written_at(fake: FakeNocoDB) -> dict[str, float]:
    """When NocoDB would have written each file of the fake's rows: half a second before its row."""
    written: dict[str, float] = {}
    for row in fake.rows.values():
        created = created_epoch(row.get("CreatedAt"))
        for attachment in row.get("Image") or []:
            if created is not None and isinstance(attachment.get("path"), str):
                written[attachment["path"]] = created - 0.5
    return written


def files_in(nc: Path) -> set[str]:
    return {str(p.relative_to(nc)) for p in nc.rglob("*") if p.is_file()}
