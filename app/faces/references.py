"""The reference faces: ``reference_faces/<slug>/profile.toml`` plus reference photos per politician.

Reference encodings are cached on disk under a key made of the photo's SHA-256 and everything that
changes an encoding (``EngineConfig.cache_key_fields``): a restart with unchanged photos computes
nothing. These are encodings of public reference photos only; uploads are never cached.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from app.errors import ReferenceSetError
from app.faces.intake import ImageRejected
from app.faces.matcher import ENCODING_DIM, Matrix, ReferenceMatrix
from app.faces.names import NameClash, PoliticianNames
from app.faces.pool import FacePool

log = logging.getLogger(__name__)

PROFILE_FILE = "profile.toml"
PHOTO_SUFFIXES = {
    ".jpg",
    ".jpeg",
    ".png",
    ".webp",
    ".gif",
    ".bmp",
    ".tif",
    ".tiff",
    ".heic",
    ".heif",
    ".avif",
}
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class Profile(BaseModel):
    """What the carousel shows of a politician; read from ``profile.toml``."""

    model_config = {"extra": "forbid"}

    name: str = Field(min_length=1)
    role: str = Field(min_length=1, description="Official role.")
    country: str = Field(min_length=1)
    description: str = ""
    # This politician's calibration (README, "Choosing the review band"); unset:
    # ``FACEGATE_TOLERANCE`` and ``FACEGATE_REVIEW_BAND``.
    tolerance: float | None = Field(None, gt=0, le=2)
    review_band: float | None = Field(None, ge=0, le=1)
    # What the forms facegate creates offer for this politician, when it is not ``name``.
    form_label: str | None = Field(None, min_length=1, max_length=200)


@dataclass(frozen=True)
class Politician:
    slug: str
    profile: Profile
    photos: tuple[Path, ...]


def politician_names(politicians: Iterable[Politician]) -> PoliticianNames:
    """The names a cell may give each politician; ``ReferenceSetError`` when one names two."""
    politicians = list(politicians)
    try:
        return PoliticianNames.build((p.slug, p.profile.name, p.profile.form_label) for p in politicians)
    except NameClash as clash:
        raise ReferenceSetError(
            f"{clash.text!r} names both {clash.first!r} and {clash.second!r}: a slug, name or form_label"
            " must name one politician only (set a distinct form_label in one profile.toml)."
        ) from clash


@dataclass(frozen=True)
class ReferenceSet:
    """Every politician's profile and the matrix of all their reference encodings."""

    politicians: dict[str, Politician]
    matrix: ReferenceMatrix
    tolerances: dict[str, float] = field(default_factory=dict)
    review_bands: dict[str, float] = field(default_factory=dict)

    @cached_property
    def names(self) -> PoliticianNames:
        return politician_names(self.politicians.values())

    def resolve(self, text: str) -> str | None:
        """The slug that ``text`` (a slug, display name or form label) names, or None."""
        return self.names.resolve(text)


def read_politicians(reference_dir: Path) -> list[Politician]:
    """Read every ``<slug>/profile.toml`` and list its photos; errors name the file."""
    if not reference_dir.is_dir():
        raise ReferenceSetError(f"{reference_dir}: the reference folder does not exist.")
    politicians = []
    for folder in sorted(p for p in reference_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not SLUG_PATTERN.match(folder.name):
            raise ReferenceSetError(f"{folder}: a politician's folder name must be a slug like 'jane-doe'.")
        profile_path = folder / PROFILE_FILE
        try:
            profile = Profile.model_validate(tomllib.loads(profile_path.read_text(encoding="utf-8")))
        except FileNotFoundError as exc:
            raise ReferenceSetError(f"{profile_path}: missing.") from exc
        except (tomllib.TOMLDecodeError, ValidationError, UnicodeDecodeError) as exc:
            raise ReferenceSetError(f"{profile_path}: {exc}") from exc
        photos = tuple(
            sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
        )
        if not photos:
            raise ReferenceSetError(f"{folder}: no reference photo ({', '.join(sorted(PHOTO_SUFFIXES))}).")
        politicians.append(Politician(folder.name, profile, photos))
    politician_names(politicians)  # a name that names two politicians is a broken folder
    return politicians


class EncodingCache:
    """``.npy`` files of reference encodings, one per (photo content, model parameters)."""

    def __init__(self, directory: Path, key_fields: dict[str, object]) -> None:
        self.directory = directory
        self._fields = json.dumps(key_fields, sort_keys=True)

    def key(self, photo: bytes) -> str:
        digest = hashlib.sha256(photo).hexdigest()
        return hashlib.sha256(f"{digest}|{self._fields}".encode()).hexdigest()

    def get(self, key: str) -> Matrix | None:
        path = self.directory / f"{key}.npy"
        try:
            value = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None
        return np.asarray(value, dtype=np.float64) if value.shape == (ENCODING_DIM,) else None

    def put(self, key: str, encoding: Matrix) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f"{key}.tmp.npy"
        np.save(tmp, encoding, allow_pickle=False)
        tmp.replace(self.directory / f"{key}.npy")  # atomic: a crash leaves no half-written entry


@dataclass(frozen=True)
class PhotoFaces:
    """The faces of one reference photo: ``encodings`` is ``(faces, 128)``; ``cached`` when none
    was computed."""

    photo: Path
    encodings: Matrix
    cached: bool

    @property
    def faces(self) -> int:
        return int(self.encodings.shape[0])

    def problem(self) -> str | None:
        """Why the photo cannot be a reference, or None when it shows exactly one face."""
        if self.faces == 1:
            return None
        what = "no face" if not self.faces else f"{self.faces} faces"
        return f"{what} found; a reference photo must show exactly one face."


async def encode_photo(photo: Path, *, cache: EncodingCache, pool: FacePool) -> PhotoFaces:
    """Every face of a reference photo, from the cache where possible (only one-face photos are
    cached). ``ReferenceSetError`` names the file when it is not a usable image; a cache that cannot
    be written (a read-only data folder) only costs the computation next time."""
    data = await asyncio.to_thread(photo.read_bytes)
    key = cache.key(data)
    cached = cache.get(key)
    if cached is not None:
        return PhotoFaces(photo, cached.reshape(1, ENCODING_DIM), cached=True)
    try:
        found = await pool.find_faces(data)
    except ImageRejected as exc:
        raise ReferenceSetError(f"{photo}: {exc.message}") from exc
    if len(found.boxes) == 1:
        try:
            await asyncio.to_thread(cache.put, key, found.encodings[0])
        except OSError as exc:
            log.warning("reference cache not written (%s): %s", cache.directory, exc.strerror)
    return PhotoFaces(photo, found.encodings, cached=False)


async def load_reference_set(*, reference_dir: Path, cache: EncodingCache, pool: FacePool) -> ReferenceSet:
    """Read the folder and encode every reference photo, from the cache where possible."""
    politicians = read_politicians(reference_dir)
    computed = 0

    async def encode(photo: Path) -> Matrix:
        nonlocal computed
        found = await encode_photo(photo, cache=cache, pool=pool)
        problem = found.problem()
        if problem is not None:
            raise ReferenceSetError(f"{photo}: {problem}")
        computed += not found.cached
        encoding: Matrix = found.encodings[0]
        return encoding

    by_politician: dict[str, list[Matrix]] = {}
    for politician in politicians:
        by_politician[politician.slug] = list(await asyncio.gather(*(encode(p) for p in politician.photos)))
    log.info(
        "loaded %d politicians, %d reference photos (%d computed, the rest from cache)",
        len(politicians),
        sum(len(p.photos) for p in politicians),
        computed,
    )
    return ReferenceSet(
        politicians={p.slug: p for p in politicians},
        matrix=ReferenceMatrix.build(by_politician),
        tolerances={p.slug: p.profile.tolerance for p in politicians if p.profile.tolerance is not None},
        review_bands={
            p.slug: p.profile.review_band for p in politicians if p.profile.review_band is not None
        },
    )
