"""The reference audit: is every politician's set of photos one person, and every two politicians apart?

Pure numpy over encodings already computed (``app.politicians.references.encode_photo``): each reference
photo is measured the way an upload is, by the matcher's distance to the nearest photo, against
the other photos of its politician and against every other politician.

- A photo must show exactly one face.
- A photo's distance to the nearest *other* photo of its politician must be within that politician's
  tolerance. Farther, it is unlike every other photo of that person: probably someone else (with
  two photos, both are named, as either may be the wrong one).
- The smallest distance between two politicians' photos must exceed both tolerances: within either,
  an upload of one could be approved as the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np

from app.faces.matcher import Matrix, ReferenceMatrix, politician_distances

__all__ = ["Audit", "PairReport", "PhotoReport", "audit"]


@dataclass(frozen=True)
class PhotoReport:
    slug: str
    photo: Path
    faces: int
    # Distance to the nearest other photo of the same politician; None without one to compare.
    nearest: float | None
    problem: str | None


@dataclass(frozen=True)
class PairReport:
    first: str
    second: str
    distance: float  # the smallest distance between a photo of ``first`` and one of ``second``
    photos: tuple[Path, Path]
    problem: str | None


@dataclass(frozen=True)
class Audit:
    photos: list[PhotoReport]
    pairs: list[PairReport]

    @property
    def problems(self) -> list[str]:
        """One line per problem, each naming the file(s) at fault."""
        reports: list[PhotoReport | PairReport] = [*self.photos, *self.pairs]
        return [r.problem for r in reports if r.problem is not None]


def audit(
    photos: Mapping[str, Sequence[tuple[Path, int, Matrix]]],
    *,
    tolerances: Mapping[str, float],
    default_tolerance: float,
) -> Audit:
    """Audit reference photos given as ``slug -> [(photo, faces, encodings)]``: how many faces each
    shows, and the ``(1, 128) float64`` encoding of a photo with one (``app.faces.engine`` encodes no
    other).

    ``tolerances`` are the politicians' own (``profile.toml``); the others use ``default_tolerance``.
    """
    reports: list[PhotoReport] = []
    usable: list[tuple[str, Path]] = []
    encodings: list[Matrix] = []
    for slug, items in photos.items():
        for photo, faces, found in items:
            if faces == 1:
                usable.append((slug, photo))
                encodings.append(np.asarray(found, dtype=np.float64).reshape(-1))
    distances = _pairwise(encodings)
    slugs = np.array([slug for slug, _ in usable], dtype=object)

    def tolerance(slug: str) -> float:
        return tolerances.get(slug, default_tolerance)

    index = {(slug, photo): i for i, (slug, photo) in enumerate(usable)}
    for slug, items in photos.items():
        for photo, faces, _ in items:
            problem: str | None = None
            if faces != 1:
                what = "no face" if not faces else f"{faces} faces"
                problem = f"{photo}: {what} found; a reference photo must show exactly one face"
                reports.append(PhotoReport(slug, photo, faces, None, problem))
                continue
            i = index[(slug, photo)]
            same = (slugs == slug) & (np.arange(len(usable)) != i)
            nearest = float(distances[i, same].min()) if same.any() else None
            if nearest is not None and nearest > tolerance(slug):
                problem = (
                    f"{photo}: {nearest:.3f} from the nearest other photo of {slug} (tolerance"
                    f" {tolerance(slug):g}): probably someone else"
                )
            reports.append(PhotoReport(slug, photo, 1, nearest, problem))

    pairs = []
    for first, second in combinations(sorted(set(slugs.tolist())), 2):
        rows, cols = np.flatnonzero(slugs == first), np.flatnonzero(slugs == second)
        block = distances[np.ix_(rows, cols)]
        r, c = np.unravel_index(int(np.argmin(block)), block.shape)
        distance = float(block[r, c])
        pair_photos = (usable[rows[r]][1], usable[cols[c]][1])
        limit = max(tolerance(first), tolerance(second))
        pair_problem: str | None = None
        if distance <= limit:
            pair_problem = (
                f"{pair_photos[0]} and {pair_photos[1]}: {first} and {second} are {distance:.3f} apart,"
                f" within the tolerance {limit:g}: an upload of one could be approved as the other"
            )
        pairs.append(PairReport(first, second, distance, pair_photos, pair_problem))
    return Audit(reports, pairs)


def _pairwise(encodings: Sequence[Matrix]) -> Matrix:
    """``(N, N)`` distances between N encodings, by the matcher itself: each photo is a "politician"
    of one reference, so one call gives every face's distance to every other."""
    if not encodings:
        return np.zeros((0, 0))
    keys = [f"{i:08d}" for i in range(len(encodings))]  # sorted as the matrix sorts its labels
    matrix = ReferenceMatrix.build({key: [e] for key, e in zip(keys, encodings, strict=True)})
    return politician_distances(np.stack(encodings), matrix)
