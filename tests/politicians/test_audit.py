"""The reference audit on real dlib encodings of the sample photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.faces.matcher import ENCODING_DIM, ReferenceMatrix, politician_distances
from app.politicians.audit import audit

TOLERANCE = 0.6


def _one(encodings: dict[str, np.ndarray], name: str) -> tuple[Path, int, np.ndarray]:
    return Path(name), 1, encodings[name].reshape(1, ENCODING_DIM)


def test_the_demo_politicians_pass(real_encodings: dict[str, np.ndarray]) -> None:
    photos = {
        "obama": [_one(real_encodings, n) for n in ("obama.jpg", "obama2.jpg", "obama3.jpg")],
        "biden": [_one(real_encodings, "biden.jpg")],
    }
    result = audit(photos, tolerances={}, default_tolerance=TOLERANCE)
    assert result.problems == []
    nearest = {r.photo.name: r.nearest for r in result.photos}
    assert nearest["biden.jpg"] is None  # nothing to compare with
    assert all(d is not None and d < TOLERANCE for name, d in nearest.items() if name != "biden.jpg")
    (pair,) = result.pairs
    assert (pair.first, pair.second) == ("biden", "obama") and pair.distance > TOLERANCE
    # The distance is the matcher's own: biden's photo against obama's nearest reference.
    obama = ReferenceMatrix.build(
        {"obama": [real_encodings[n] for n in ("obama.jpg", "obama2.jpg", "obama3.jpg")]}
    )
    expected = politician_distances(real_encodings["biden.jpg"].reshape(1, -1), obama)[0, 0]
    assert pair.distance == pytest.approx(expected)
    assert pair.photos[0] == Path("biden.jpg")


def test_someone_else_in_a_politicians_folder_is_named(real_encodings: dict[str, np.ndarray]) -> None:
    photos = {
        "obama": [_one(real_encodings, n) for n in ("obama.jpg", "obama2.jpg", "biden.jpg")],
        "biden": [_one(real_encodings, "astronaut.png")],
    }
    result = audit(photos, tolerances={}, default_tolerance=TOLERANCE)
    (problem,) = result.problems
    assert problem.startswith("biden.jpg: ") and "probably someone else" in problem
    # With a wider tolerance of their own, the same photo passes: the profile's tolerance counts.
    wider = audit(photos, tolerances={"obama": 1.5}, default_tolerance=TOLERANCE)
    assert not any("probably someone else" in p for p in wider.problems)


def test_two_politicians_within_the_tolerance_are_named(real_encodings: dict[str, np.ndarray]) -> None:
    # The same person filed as two politicians.
    photos = {
        "obama": [_one(real_encodings, "obama.jpg")],
        "barack": [_one(real_encodings, "obama2.jpg"), _one(real_encodings, "obama3.jpg")],
    }
    (problem,) = audit(photos, tolerances={}, default_tolerance=TOLERANCE).problems
    assert problem.startswith("obama2.jpg and obama.jpg: barack and obama are") or problem.startswith(
        "obama3.jpg and obama.jpg: barack and obama are"
    )
    assert "could be approved as the other" in problem


def test_a_photo_without_exactly_one_face_is_named(real_encodings: dict[str, np.ndarray]) -> None:
    # The engine encodes no face of a photo that shows several.
    photos = {
        "obama": [
            _one(real_encodings, "obama.jpg"),
            (Path("cat.png"), 0, np.empty((0, ENCODING_DIM))),
            (Path("group.jpg"), 2, np.empty((0, ENCODING_DIM))),
        ]
    }
    result = audit(photos, tolerances={}, default_tolerance=TOLERANCE)
    assert result.problems == [
        "cat.png: no face found; a reference photo must show exactly one face",
        "group.jpg: 2 faces found; a reference photo must show exactly one face",
    ]
    assert result.pairs == []


def test_nothing_to_audit() -> None:
    result = audit({}, tolerances={}, default_tolerance=TOLERANCE)
    assert (result.photos, result.pairs, result.problems) == ([], [], [])
