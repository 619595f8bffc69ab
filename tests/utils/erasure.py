"""A real folder shaped like NocoDB's local storage, for the fake NocoDB's files."""

from __future__ import annotations

import os
from pathlib import Path

from tests.utils.fake_nocodb import WRITTEN_AT, FakeNocoDB

THUMBNAIL = b"thumb"


def on_disk(fake: FakeNocoDB, nc: Path) -> Path:
    """Write the fake's files where NocoDB would keep them, with a thumbnail each, as written just before
    their rows were created; the uploads folder."""
    for path, data in fake.files.items():
        rel = path.removeprefix("download/")
        (nc / "uploads" / rel).parent.mkdir(parents=True, exist_ok=True)
        (nc / "uploads" / rel).write_bytes(data)
        os.utime(nc / "uploads" / rel, (WRITTEN_AT, WRITTEN_AT))
        (nc / "thumbnails" / rel).mkdir(parents=True, exist_ok=True)
        (nc / "thumbnails" / rel / "tiny.jpg").write_bytes(THUMBNAIL)
    return nc / "uploads"


def files_in(nc: Path) -> set[str]:
    return {str(p.relative_to(nc)) for p in nc.rglob("*") if p.is_file()}
