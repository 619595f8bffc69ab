"""The moderation rule: from the faces found in one image to ``approved``, ``review`` or ``rejected``.

Pure: no I/O, no dlib. The faces arrive already detected and encoded (``app.faces.engine``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from pydantic import BaseModel, Field

from app.faces.matcher import Matrix, ReferenceMatrix, politician_distances
from app.outcomes import Decision, Reason


class Box(BaseModel):
    """A face's bounding box in pixels of the image as displayed (after EXIF orientation)."""

    top: int
    right: int
    bottom: int
    left: int


class FaceResult(BaseModel):
    box: Box
    distances: dict[str, float] = Field(description="Smallest distance to each politician's references.")
    best_match: str | None = Field(description="The politician this face is within tolerance of, if any.")


class Verdict(BaseModel):
    decision: Decision
    reason: Reason
    politician: str | None = Field(description="The politician claimed, or identified when none was claimed.")
    faces: list[FaceResult]
    tolerance: float
    review_band: float = Field(
        0.0, description="Distances within this band of the tolerance go to a moderator (review)."
    )


def decide(
    *,
    boxes: list[Box],
    encodings: Matrix,
    references: ReferenceMatrix,
    tolerances: Mapping[str, float],
    default_tolerance: float,
    expected: str | None,
    review_band: float = 0.0,
) -> Verdict:
    """Decide one image with ``len(boxes)`` faces, whose encodings are ``(M, 128)``.

    ``expected`` is the slug the uploader named, or None to identify the face among all politicians.
    A face matches a politician when its smallest distance to that politician's references is at
    most the politician's tolerance. Without a claim, the face's best match is the politician whose
    distance is smallest relative to that politician's tolerance. A face whose distance d to the
    politician is within ``review_band`` of the tolerance t (|d - t| <= band) is too close to call
    either way: ``review``, for a moderator.
    """
    per_politician = politician_distances(encodings, references)
    tolerance_row = np.array([tolerances.get(slug, default_tolerance) for slug in references.labels])
    faces = [
        _face_result(box, per_politician[i], references.labels, tolerance_row) for i, box in enumerate(boxes)
    ]
    tolerance = tolerances.get(expected, default_tolerance) if expected else default_tolerance

    def verdict(
        decision: Decision, reason: Reason, politician: str | None, tol: float = tolerance
    ) -> Verdict:
        return Verdict(
            decision=decision,
            reason=reason,
            politician=politician,
            faces=faces,
            tolerance=tol,
            review_band=review_band,
        )

    def by_distance(distance: float, politician: str, tol: float) -> Verdict:
        if review_band > 0 and abs(distance - tol) <= review_band:
            return verdict(Decision.REVIEW, Reason.NEAR_TOLERANCE, politician, tol)
        if distance <= tol:
            return verdict(Decision.APPROVED, Reason.MATCH, politician, tol)
        return verdict(Decision.REJECTED, Reason.NO_MATCH, politician, tol)

    if not faces:
        return verdict(Decision.REJECTED, Reason.NO_FACE, expected)
    if len(faces) > 1:
        return verdict(Decision.REJECTED, Reason.MULTIPLE_FACES, expected)
    if expected is not None:
        return by_distance(float(per_politician[0, references.labels.index(expected)]), expected, tolerance)
    if not references.labels:
        return verdict(Decision.REJECTED, Reason.NO_MATCH, None)
    # Without a claim: the politician nearest relative to their tolerance.
    nearest = int(np.argmin(per_politician[0] / tolerance_row))
    slug = references.labels[nearest]
    decided = by_distance(float(per_politician[0, nearest]), slug, float(tolerance_row[nearest]))
    return (
        decided
        if decided.decision is not Decision.REJECTED
        else verdict(Decision.REJECTED, Reason.NO_MATCH, None)
    )


def _face_result(box: Box, distances: Matrix, labels: tuple[str, ...], tolerance_row: Matrix) -> FaceResult:
    best: str | None = None
    if labels:
        relative = distances / tolerance_row
        i = int(np.argmin(relative))
        best = labels[i] if relative[i] <= 1.0 else None
    return FaceResult(
        box=box,
        distances={slug: round(float(d), 6) for slug, d in zip(labels, distances, strict=True)},
        best_match=best,
    )
