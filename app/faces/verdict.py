"""The moderation rule: from the faces found in one image to ``approved``, ``review`` or ``rejected``.

Pure: no I/O, no dlib. The faces arrive already detected and encoded (``app.faces.engine``). What
crosses the face workers' process boundary, and what the rule returns, are plain frozen dataclasses;
the HTTP body of a verdict is ``app.api.verify_schemas.Verdict``, built from these at the route.

``decide`` takes four steps, each a function below:
1. ``_face_results``: each face's distance to each politician, and its best match;
2. ``_not_one_face``: no face, or several, is a rejection;
3. with a claim, ``_by_distance`` to the claimed politician; without, ``_identified``;
4. ``_gated``: a picture that could be approved or reviewed meets the explicit-content gate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from app.faces.explicit import DEFAULT_EXPLICIT_LABELS, DEFAULT_MIN_SCORE, Detection
from app.faces.matcher import Matrix, ReferenceMatrix, politician_distances
from app.outcomes import Decision, Reason

__all__ = ["NO_GATE", "Box", "ExplicitFinding", "ExplicitGate", "FaceResult", "Verdict", "decide"]


@dataclass(frozen=True)
class Box:
    """A face's bounding box in pixels of the image as displayed (after EXIF orientation)."""

    top: int
    right: int
    bottom: int
    left: int


@dataclass(frozen=True)
class ExplicitFinding:
    """A detection of the nudity detector with one of the configured labels (a NudeNet label, e.g.
    FEMALE_BREAST_EXPOSED), its score rounded to 4 decimals, its box as displayed."""

    label: str
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


@dataclass(frozen=True)
class FaceResult:
    """One face: its box, its smallest distance to each politician's references, and the politician
    it is within tolerance of (the nearest relative to tolerance), if any."""

    box: Box
    distances: dict[str, float]
    best_match: str | None


@dataclass(frozen=True)
class Verdict:
    """The rule's answer on one image. ``politician`` is the one claimed, or identified when none
    was claimed; ``review_band`` is that politician's band (distances within it of ``tolerance`` go
    to a moderator); ``explicit`` what the nudity detector found with a configured label, at review
    score or more."""

    decision: Decision
    reason: Reason
    politician: str | None
    faces: list[FaceResult]
    tolerance: float
    review_band: float = 0.0
    explicit: list[ExplicitFinding] = field(default_factory=list)


@dataclass(frozen=True)
class _Ruling:
    """A step's decision, before it becomes a ``Verdict``: what, why, about whom, at which tolerance."""

    decision: Decision
    reason: Reason
    politician: str | None
    tolerance: float


@dataclass(frozen=True)
class _Thresholds:
    """Each politician's tolerance and review band, and the defaults for the others (and for no one)."""

    tolerances: Mapping[str, float]
    default_tolerance: float
    review_bands: Mapping[str, float]
    review_band: float

    def tolerance(self, politician: str | None) -> float:
        return (
            self.tolerances.get(politician, self.default_tolerance) if politician else self.default_tolerance
        )

    def band(self, politician: str | None) -> float:
        return self.review_bands.get(politician, self.review_band) if politician else self.review_band


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
    """Decide one image with ``len(boxes)`` faces, whose encodings are ``(M, 128)`` (M is 0 when the
    faces were not encoded: several faces are a rejection without them).

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
    thresholds = _Thresholds(tolerances, default_tolerance, review_bands or {}, review_band)
    distances = politician_distances(encodings, references)  # (M, P)
    tolerance_row = np.array([tolerances.get(slug, default_tolerance) for slug in references.labels])
    faces = _face_results(boxes, distances, references.labels, tolerance_row)
    if len(faces) != 1:
        ruling = _not_one_face(len(faces), expected, thresholds)
    elif expected is not None:
        distance = float(distances[0, references.labels.index(expected)])
        ruling = _by_distance(distance, expected, thresholds.tolerance(expected), thresholds.band(expected))
    else:
        ruling = _identified(distances[0], references.labels, tolerance_row, thresholds)
    findings = gate.findings(detections)
    ruling = _gated(ruling, findings, gate)
    return Verdict(
        decision=ruling.decision,
        reason=ruling.reason,
        politician=ruling.politician,
        faces=faces,
        tolerance=ruling.tolerance,
        review_band=thresholds.band(ruling.politician),
        explicit=findings,
    )


def _face_results(
    boxes: list[Box], distances: Matrix, labels: tuple[str, ...], tolerance_row: Matrix
) -> list[FaceResult]:
    """Each face's result, from its row of ``distances`` ``(M, P)``; ``tolerance_row`` is ``(P,)``.
    Faces that were not encoded (several in one picture: ``app.faces.engine``) have no distances."""
    return [
        _face_result(box, distances[i], labels, tolerance_row)
        if i < len(distances)
        else FaceResult(box=box, distances={}, best_match=None)
        for i, box in enumerate(boxes)
    ]


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


def _not_one_face(count: int, expected: str | None, thresholds: _Thresholds) -> _Ruling:
    """No face, or more than one, is a rejection: only a picture of one person can be approved."""
    reason = Reason.NO_FACE if count == 0 else Reason.MULTIPLE_FACES
    return _Ruling(Decision.REJECTED, reason, expected, thresholds.tolerance(expected))


def _by_distance(distance: float, politician: str, tolerance: float, band: float) -> _Ruling:
    """The one face against ``politician``: within ``band`` of the tolerance is for a moderator,
    within the tolerance a match, beyond it no match."""
    if band > 0 and abs(distance - tolerance) <= band:
        return _Ruling(Decision.REVIEW, Reason.NEAR_TOLERANCE, politician, tolerance)
    if distance <= tolerance:
        return _Ruling(Decision.APPROVED, Reason.MATCH, politician, tolerance)
    return _Ruling(Decision.REJECTED, Reason.NO_MATCH, politician, tolerance)


def _identified(
    distances: Matrix, labels: tuple[str, ...], tolerance_row: Matrix, thresholds: _Thresholds
) -> _Ruling:
    """Without a claim: the one face (its ``(P,)`` distances) against the politician nearest relative
    to their tolerance. No match names no one, at the default tolerance."""
    no_match = _Ruling(Decision.REJECTED, Reason.NO_MATCH, None, thresholds.default_tolerance)
    if not labels:
        return no_match
    nearest = int(np.argmin(distances / tolerance_row))
    slug = labels[nearest]
    ruling = _by_distance(
        float(distances[nearest]), slug, float(tolerance_row[nearest]), thresholds.band(slug)
    )
    return no_match if ruling.decision is Decision.REJECTED else ruling


def _gated(ruling: _Ruling, findings: list[ExplicitFinding], gate: ExplicitGate) -> _Ruling:
    """A picture that could be approved or reviewed, with findings: a finding at the gate's
    ``min_score`` or more rejects it, others send it to review."""
    if ruling.decision is Decision.REJECTED or not findings:
        return ruling
    blocked = any(f.score >= gate.min_score for f in findings)
    decision = Decision.REJECTED if blocked else Decision.REVIEW
    return _Ruling(decision, Reason.EXPLICIT_CONTENT, ruling.politician, ruling.tolerance)
