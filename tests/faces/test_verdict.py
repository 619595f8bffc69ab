from __future__ import annotations

import numpy as np

from app.faces.matcher import ReferenceMatrix
from app.faces.verdict import Box, decide
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
