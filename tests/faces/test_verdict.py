from __future__ import annotations

import numpy as np

from app.faces.explicit import Detection
from app.faces.matcher import ReferenceMatrix
from app.faces.verdict import Box, ExplicitGate, decide
from app.outcomes import Decision, Reason

BOX = Box(top=1, right=2, bottom=3, left=0)
A = np.zeros(128)
B = np.zeros(128)
B[0] = 1.0
REFS = ReferenceMatrix.build({"alice": [A], "bob": [B]})


def _face(distance_to_alice: float) -> np.ndarray:
    face = np.zeros((1, 128))
    face[0, 1] = distance_to_alice  # orthogonal to B's offset: |face - A| = d
    return face


def _decide(encodings: np.ndarray, expected: str | None, tolerances: dict[str, float] | None = None):  # type: ignore[no-untyped-def]
    return decide(
        boxes=[BOX] * len(encodings),
        encodings=encodings,
        references=REFS,
        tolerances=tolerances or {},
        default_tolerance=0.6,
        expected=expected,
    )


def test_no_face() -> None:
    v = _decide(np.empty((0, 128)), "alice")
    assert (v.decision, v.reason, v.politician, v.faces) == (Decision.REJECTED, Reason.NO_FACE, "alice", [])


def test_multiple_faces() -> None:
    v = _decide(np.concatenate([_face(0.1), _face(0.1)]), "alice")
    assert (v.decision, v.reason) == (Decision.REJECTED, Reason.MULTIPLE_FACES)
    assert len(v.faces) == 2


def test_multiple_faces_without_encodings_are_boxes_without_distances() -> None:
    # The engine encodes no face of a picture that shows several (a crowd costs its detection only).
    v = decide(
        boxes=[BOX] * 3,
        encodings=np.empty((0, 128)),
        references=REFS,
        tolerances={},
        default_tolerance=0.6,
        expected="alice",
    )
    assert (v.decision, v.reason, v.politician) == (Decision.REJECTED, Reason.MULTIPLE_FACES, "alice")
    assert [(f.box, f.distances, f.best_match) for f in v.faces] == [(BOX, {}, None)] * 3


def test_match_within_tolerance() -> None:
    v = _decide(_face(0.59), "alice")
    assert (v.decision, v.reason, v.politician, v.tolerance) == (
        Decision.APPROVED,
        Reason.MATCH,
        "alice",
        0.6,
    )
    assert v.faces[0].distances["alice"] == 0.59
    assert v.faces[0].best_match == "alice"


def test_no_match_beyond_tolerance() -> None:
    v = _decide(_face(0.61), "alice")
    assert (v.decision, v.reason) == (Decision.REJECTED, Reason.NO_MATCH)


def test_claimed_politician_must_be_the_one_matched() -> None:
    v = _decide(_face(0.1), "bob")
    assert (v.decision, v.reason, v.politician) == (Decision.REJECTED, Reason.NO_MATCH, "bob")
    assert v.faces[0].best_match == "alice"


def test_per_politician_tolerance_overrides_default() -> None:
    v = _decide(_face(0.5), "alice", {"alice": 0.4})
    assert (v.decision, v.tolerance) == (Decision.REJECTED, 0.4)
    v = _decide(_face(0.65), "alice", {"alice": 0.7})
    assert v.decision is Decision.APPROVED


def test_identification_without_claim() -> None:
    v = _decide(_face(0.2), None)
    assert (v.decision, v.reason, v.politician) == (Decision.APPROVED, Reason.MATCH, "alice")
    v = _decide(_face(0.9), None)
    assert (v.decision, v.reason, v.politician) == (Decision.REJECTED, Reason.NO_MATCH, None)


def test_identification_is_relative_to_each_tolerance() -> None:
    # Nearer to alice in absolute terms, but only within bob's (wider) tolerance.
    face = np.zeros((1, 128))
    face[0, 0] = 0.45  # |face - A| = 0.45, |face - B| = 0.55
    v = _decide(face, None, {"alice": 0.4, "bob": 0.6})
    assert (v.decision, v.politician, v.tolerance) == (Decision.APPROVED, "bob", 0.6)


def _gated(distance: float, *found: tuple[str, float], expected: str | None = "alice"):  # type: ignore[no-untyped-def]
    gate = ExplicitGate(labels=frozenset({"ANUS_EXPOSED"}), min_score=0.5, review_score=0.3)
    return decide(
        boxes=[BOX],
        encodings=_face(distance),
        references=REFS,
        tolerances={},
        default_tolerance=0.6,
        expected=expected,
        review_band=0.05,
        detections=[Detection(label, score, (5, 6, 10, 20)) for label, score in found],
        gate=gate,
    )


def test_the_explicit_gate_rejects_what_would_be_approved_or_reviewed() -> None:
    for distance in (0.2, 0.58):
        v = _gated(distance, ("ANUS_EXPOSED", 0.5), ("FACE_FEMALE", 0.9))
        assert (v.decision, v.reason, v.politician) == (Decision.REJECTED, Reason.EXPLICIT_CONTENT, "alice")
        (finding,) = v.explicit  # only configured labels are reported
        assert finding.label == "ANUS_EXPOSED" and finding.box == Box(top=6, right=15, bottom=26, left=5)
    identified = _gated(0.2, ("ANUS_EXPOSED", 0.9), expected=None)
    assert (identified.reason, identified.politician) == (Reason.EXPLICIT_CONTENT, "alice")


def test_an_uncertain_score_goes_to_review_and_a_low_one_changes_nothing() -> None:
    v = _gated(0.2, ("ANUS_EXPOSED", 0.49))
    assert (v.decision, v.reason) == (Decision.REVIEW, Reason.EXPLICIT_CONTENT)
    v = _gated(0.2, ("ANUS_EXPOSED", 0.29))
    assert (v.decision, v.reason, v.explicit) == (Decision.APPROVED, Reason.MATCH, [])


def test_a_face_that_does_not_match_stays_no_match_whatever_the_detector_says() -> None:
    v = _gated(0.9, ("ANUS_EXPOSED", 0.99))
    assert (v.decision, v.reason) == (Decision.REJECTED, Reason.NO_MATCH)


def test_the_review_band_around_the_tolerance() -> None:
    for distance, expected in [
        (0.54, (Decision.APPROVED, Reason.MATCH)),
        (0.56, (Decision.REVIEW, Reason.NEAR_TOLERANCE)),
        (0.6, (Decision.REVIEW, Reason.NEAR_TOLERANCE)),
        (0.64, (Decision.REVIEW, Reason.NEAR_TOLERANCE)),
        (0.66, (Decision.REJECTED, Reason.NO_MATCH)),
    ]:
        v = _gated(distance)
        assert (v.decision, v.reason) == expected, distance
        assert v.review_band == 0.05
    # Without a claim, the nearest politician within the band is the one to review.
    v = _gated(0.62, expected=None)
    assert (v.decision, v.politician) == (Decision.REVIEW, "alice")
    assert _gated(0.7, expected=None).politician is None


def test_a_politicians_own_review_band_comes_before_the_default() -> None:
    def decided(distance: float, expected: str | None = "alice"):  # type: ignore[no-untyped-def]
        return decide(
            boxes=[BOX],
            encodings=_face(distance),
            references=REFS,
            tolerances={"alice": 0.68},
            default_tolerance=0.6,
            expected=expected,
            review_band=0.02,
            review_bands={"alice": 0.08},
        )

    for distance, decision in [(0.59, Decision.APPROVED), (0.61, Decision.REVIEW), (0.75, Decision.REVIEW)]:
        v = decided(distance)
        assert (v.decision, v.tolerance, v.review_band) == (decision, 0.68, 0.08), distance
    assert decided(0.77).decision is Decision.REJECTED
    assert decided(0.75, expected=None).decision is Decision.REVIEW  # identified as alice, her band
    # Bob has no band of his own: the default one.
    bob = decide(
        boxes=[BOX],
        encodings=_face(0.0) + np.eye(1, 128) * 1.0 + np.eye(1, 128, 1) * 0.59,
        references=REFS,
        tolerances={},
        default_tolerance=0.6,
        expected="bob",
        review_band=0.02,
        review_bands={"alice": 0.08},
    )
    assert (bob.decision, bob.review_band) == (Decision.REVIEW, 0.02)
