"""The matcher: pure numpy, arrays in and arrays out, no I/O.

Encodings are dlib's 128-d face descriptors, ``float64``. Two faces are the same person when the
Euclidean distance of their descriptors is within a tolerance (0.6 is dlib's recommended value).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

ENCODING_DIM = 128
Matrix = npt.NDArray[np.float64]

# Below this squared distance the fast ``|a|^2 + |b|^2 - 2ab`` form loses digits to cancellation,
# so those few entries are recomputed from the difference itself.
_EXACT_BELOW_SQUARED = 1e-4


@dataclass(frozen=True)
class ReferenceMatrix:
    """All reference encodings of all politicians, grouped by politician.

    ``encodings`` is ``(N, 128) float64``; the rows of politician ``labels[i]`` are the contiguous
    slice ``starts[i]:starts[i + 1]`` (``starts`` has one more entry than ``labels``). Every
    politician has at least one row. ``squared_norms`` is ``(N,)``, precomputed for the fast metric;
    ``augmented`` is ``(129, N)``: ``-2 * encodings.T`` over ``squared_norms``, so that one matrix
    product of ``[face, 1]`` with it gives ``|r|^2 - 2 f.r`` for every reference ``r``.
    """

    labels: tuple[str, ...]
    encodings: Matrix
    starts: npt.NDArray[np.intp]
    squared_norms: Matrix
    augmented: Matrix

    @classmethod
    def build(cls, by_politician: Mapping[str, Sequence[Matrix]]) -> ReferenceMatrix:
        """Stack per-politician encodings (each ``(128,)``) into one grouped matrix."""
        labels = tuple(sorted(slug for slug, rows in by_politician.items() if len(rows)))
        blocks = [
            np.asarray(by_politician[slug], dtype=np.float64).reshape(-1, ENCODING_DIM) for slug in labels
        ]
        encodings = np.concatenate(blocks) if blocks else np.empty((0, ENCODING_DIM))
        counts = [len(block) for block in blocks]
        starts = np.concatenate([[0], np.cumsum(counts, dtype=np.intp)]).astype(np.intp)
        squared_norms = np.einsum("ij,ij->i", encodings, encodings)
        return cls(
            labels=labels,
            encodings=np.ascontiguousarray(encodings),
            starts=starts,
            squared_norms=squared_norms,
            augmented=np.ascontiguousarray(np.vstack([-2.0 * encodings.T, squared_norms[None, :]])),
        )

    def __len__(self) -> int:
        return int(self.encodings.shape[0])

    def count(self, slug: str) -> int:
        i = self.labels.index(slug)
        return int(self.starts[i + 1] - self.starts[i])


def politician_distances(faces: Matrix, references: ReferenceMatrix) -> Matrix:
    """Each face's distance to each politician's nearest reference, ``(M, 128)`` -> ``(M, P)``.

    One matrix product and one grouped minimum over ``M x N``: ``|f|^2`` is the same for every
    reference of a face, so it is added after the minimum, and ``|r|^2`` rides in the product as an
    extra column. Minimums near zero, where that form cancels badly, are recomputed exactly.
    """
    faces = np.asarray(faces, dtype=np.float64).reshape(-1, ENCODING_DIM)
    if faces.shape[0] == 0 or not references.labels:
        return np.zeros((faces.shape[0], len(references.labels)))
    augmented_faces = np.ones((faces.shape[0], ENCODING_DIM + 1))
    augmented_faces[:, :ENCODING_DIM] = faces
    partial = augmented_faces @ references.augmented
    squared = np.minimum.reduceat(partial, references.starts[:-1], axis=1)
    squared += np.einsum("ij,ij->i", faces, faces)[:, None]
    for i, p in zip(*np.nonzero(squared < _EXACT_BELOW_SQUARED), strict=True):
        block = references.encodings[references.starts[p] : references.starts[p + 1]] - faces[i]
        squared[i, p] = np.einsum("ij,ij->i", block, block).min()
    return np.sqrt(np.maximum(squared, 0.0, out=squared), out=squared)
