"""The moderation rule: from the faces found in one image to ``approved``, ``review`` or ``rejected``.

Pure: no I/O, no dlib. The faces arrive already detected and encoded (``app.faces.engine``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, Field

from app.faces.explicit import DEFAULT_EXPLICIT_LABELS, DEFAULT_MIN_SCORE, Detection
from app.faces.matcher import Matrix, ReferenceMatrix, politician_distances
from app.outcomes import Decision, Reason


class Box(BaseModel):
    """A face's bounding box in pixels of the image as displayed (after EXIF orientation)."""

    top: int
    right: int
    bottom: int
    left: int


class ExplicitFinding(BaseModel):
    """A detection of the nudity detector with one of the configured labels."""

    label: str = Field(description="A NudeNet label, e.g. FEMALE_BREAST_EXPOSED.")
    score: float
    box: Box

    @classmethod
    def of(cls, detection: Detection) -> ExplicitFinding:
        x, y, width, height = detection.box
        return cls(
            label=detection.label,
            score=round(detection.score, 4),
            box=Box(top=y, right=x + width, bottom=y + height, left=x),
        )


@dataclass(frozen=True)
class ExplicitGate:
    """Which detections block a picture (``min_score`` and more) or send it to review
    (``review_score`` up to ``min_score``); no labels: no gate."""

    labels: frozenset[str] = frozenset(DEFAULT_EXPLICIT_LABELS)
    min_score: float = DEFAULT_MIN_SCORE
    review_score: float = DEFAULT_MIN_SCORE

    def findings(self, detections: Sequence[Detection]) -> list[ExplicitFinding]:
        return [
            ExplicitFinding.of(d)
            for d in detections
            if d.label in self.labels and d.score >= self.review_score
        ]


NO_GATE = ExplicitGate(labels=frozenset())


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
    explicit: list[ExplicitFinding] = Field(
        default_factory=list,
        description="What the nudity detector found with a configured label, at review score or more.",
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
    review_bands: Mapping[str, float] | None = None,
    detections: Sequence[Detection] = (),
    gate: ExplicitGate = NO_GATE,
) -> Verdict:
    """Decide one image with ``len(boxes)`` faces, whose encodings are ``(M, 128)``.

    ``expected`` is the slug the uploader named, or None to identify the face among all politicians.
    A face matches a politician when its smallest distance to that politician's references is at
    most the politician's tolerance. Without a claim, the face's best match is the politician whose
    distance is smallest relative to that politician's tolerance. A face whose distance d to the
    politician is within ``review_band`` of the tolerance t (|d - t| <= band) is too close to call
    either way: ``review``, for a moderator; ``review_bands`` holds the politicians' own bands, the
    others use ``review_band``. A picture that could be approved or reviewed goes
    through the explicit-content ``gate`` too: a configured label at ``min_score`` or more rejects it
    (``explicit_content``), one at ``review_score`` or more sends it to review.
    """
    per_politician = politician_distances(encodings, references)
    tolerance_row = np.array([tolerances.get(slug, default_tolerance) for slug in references.labels])
    faces = [
        _face_result(box, per_politician[i], references.labels, tolerance_row) for i, box in enumerate(boxes)
    ]
    tolerance = tolerances.get(expected, default_tolerance) if expected else default_tolerance
    bands = review_bands or {}

    def band_of(politician: str | None) -> float:
        return bands.get(politician, review_band) if politician else review_band

    findings = gate.findings(detections)

    def verdict(
        decision: Decision, reason: Reason, politician: str | None, tol: float = tolerance
    ) -> Verdict:
        return Verdict(
            decision=decision,
            reason=reason,
            politician=politician,
            faces=faces,
            tolerance=tol,
            review_band=band_of(politician),
            explicit=findings,
        )

    def by_distance(distance: float, politician: str, tol: float) -> Verdict:
        band = band_of(politician)
        if band > 0 and abs(distance - tol) <= band:
            return verdict(Decision.REVIEW, Reason.NEAR_TOLERANCE, politician, tol)
        if distance <= tol:
            return verdict(Decision.APPROVED, Reason.MATCH, politician, tol)
        return verdict(Decision.REJECTED, Reason.NO_MATCH, politician, tol)

    if not faces:
        return verdict(Decision.REJECTED, Reason.NO_FACE, expected)
    if len(faces) > 1:
        return verdict(Decision.REJECTED, Reason.MULTIPLE_FACES, expected)
    if expected is not None:
        decided = by_distance(
            float(per_politician[0, references.labels.index(expected)]), expected, tolerance
        )
    elif not references.labels:
        return verdict(Decision.REJECTED, Reason.NO_MATCH, None)
    else:
        # Without a claim: the politician nearest relative to their tolerance.
        nearest = int(np.argmin(per_politician[0] / tolerance_row))
        slug = references.labels[nearest]
        decided = by_distance(float(per_politician[0, nearest]), slug, float(tolerance_row[nearest]))
        if decided.decision is Decision.REJECTED:
            return verdict(Decision.REJECTED, Reason.NO_MATCH, None)
    if decided.decision is Decision.REJECTED or not findings:
        return decided
    blocked = any(f.score >= gate.min_score for f in findings)
    outcome = Decision.REJECTED if blocked else Decision.REVIEW
    return verdict(outcome, Reason.EXPLICIT_CONTENT, decided.politician, decided.tolerance)


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
