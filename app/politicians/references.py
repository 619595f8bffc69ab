"""The reference set: every politician's reference photos encoded, as the matrix the verdict reads.

Reference encodings are cached on disk under a key made of the photo's SHA-256 and everything that
changes an encoding (``EngineConfig.cache_key_fields``): a restart with unchanged photos computes
nothing. These are encodings of public reference photos only; uploads are never cached.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from app.errors import ReferenceSetError
from app.faces.intake import ImageRejected
from app.faces.matcher import ENCODING_DIM, Matrix, ReferenceMatrix
from app.faces.pool import FacePool
from app.politicians.names import PoliticianNames
from app.politicians.profiles import Politician, politician_names, read_politicians

__all__ = ["EncodingCache", "PhotoFaces", "ReferenceSet", "encode_photo", "load_reference_set"]

log = logging.getLogger(__name__)


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
    """The faces of one reference photo, how many, and ``encodings`` ``(1, 128)`` when there is one
    (``(0, 128)`` otherwise: several faces are not encoded); ``cached`` when none was computed."""

    photo: Path
    encodings: Matrix
    cached: bool
    faces: int

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
        return PhotoFaces(photo, cached.reshape(1, ENCODING_DIM), cached=True, faces=1)
    try:
        found = await pool.find_faces(data)
    except ImageRejected as exc:
        raise ReferenceSetError(f"{photo}: {exc.message}") from exc
    if len(found.boxes) == 1:
        try:
            await asyncio.to_thread(cache.put, key, found.encodings[0])
        except OSError as exc:
            log.warning("reference cache not written (%s): %s", cache.directory, exc.strerror)
    return PhotoFaces(photo, found.encodings, cached=False, faces=len(found.boxes))


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
