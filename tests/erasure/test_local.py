"""Which files of NocoDB's local storage belong to an attachment, and removing only those."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.erasure.local import LocalUploads, stored_location
from app.erasure.storage import PurgeRefused, Removed

REL = "2026/11/22/60e65c63f9091a580cbaec91b037645612f9eb7e/obama2_NYv8b.jpg"
OTHER = "2026/11/22/60e65c63f9091a580cbaec91b037645612f9eb7e/cat_K4g9O.png"


def _store(nc: Path, rel: str, size: int = 100) -> None:
    """An upload as NocoDB 0.301 writes it: the original and three thumbnails."""
    original = nc / "uploads" / rel
    original.parent.mkdir(parents=True, exist_ok=True)
    original.write_bytes(b"x" * size)
    thumbnails = nc / "thumbnails" / rel
    thumbnails.mkdir(parents=True, exist_ok=True)
    for name in ("tiny", "small", "card_cover"):
        (thumbnails / f"{name}.jpg").write_bytes(b"t" * 10)


@pytest.mark.parametrize(
    "attachment",
    [
        {"path": f"download/{REL}"},
        {"signedPath": f"dltemp/TAAbQYpvasuPySPJ/1795386600000/{REL}"},
        {"path": f"download/{REL.replace('obama2', 'obama%32')}"},  # quoted once
    ],
)
def test_path_and_signed_path_name_the_same_stored_file(attachment: dict[str, str]) -> None:
    assert stored_location(attachment) == REL


def test_an_s3_attachment_names_no_local_file() -> None:
    assert stored_location({"url": "https://bucket.s3.example.org/nc/uploads/a.jpg"}) is None


@pytest.mark.parametrize(
    "path",
    [
        "download/../../noco.db",
        "download/2026/11/22/abc/../../../../noco.db",
        "download/2026/11/22/abc/a\r\nb.jpg",
        "/etc/passwd",
        "download/2026/11/22/a.jpg",  # not YYYY/MM/DD/folder/file
        "api/v2/tables/x/records",
        "download/2026/11/22/abc/" + "A" * 300 + "_abcde.jpg",  # no file system holds the name
    ],
)
def test_locations_outside_the_upload_layout_are_refused(path: str) -> None:
    with pytest.raises(PurgeRefused):
        stored_location({"path": path})


def test_remove_deletes_the_upload_and_its_thumbnails_only(tmp_path: Path) -> None:
    nc = tmp_path / "nc"
    _store(nc, REL, size=1000)
    _store(nc, OTHER)  # same 40-hex folder: another upload
    uploads = LocalUploads(nc / "uploads")
    assert len(uploads.files(REL)) == 4
    assert uploads.remove(REL) == Removed(files=4, bytes=1030)
    assert not (nc / "uploads" / REL).exists() and not (nc / "thumbnails" / REL).exists()
    assert (nc / "uploads" / OTHER).exists() and len(uploads.files(OTHER)) == 4
    assert uploads.remove(REL) == Removed()  # again: nothing left, nothing counted


def test_a_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    nc = tmp_path / "nc"
    outside = tmp_path / "secret.txt"
    outside.write_text("keep me")
    link = nc / "uploads" / REL
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    with pytest.raises(PurgeRefused):
        LocalUploads(nc / "uploads").remove(REL)
    assert outside.read_text() == "keep me"
