from __future__ import annotations

import warnings

import numpy as np
from PIL import ImageFile

from app.faces.matcher import ReferenceMatrix, politician_distances


def _random(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.normal(0, 0.1, size=(n, 128))


def _direct(faces: np.ndarray, refs: dict[str, list[np.ndarray]]) -> np.ndarray:
    """The plain definition: per face, per politician (sorted), the smallest norm of a difference."""
    return np.array(
        [[min(np.linalg.norm(f - r) for r in refs[slug]) for slug in sorted(refs)] for f in faces]
    ).reshape(len(faces), len(refs))


def test_politician_distances_match_the_direct_definition() -> None:
    rng = np.random.default_rng(1)
    refs = {"a": list(_random(rng, 3)), "b": list(_random(rng, 5)), "c": list(_random(rng, 1))}
    matrix = ReferenceMatrix.build(refs)
    faces = _random(rng, 4)
    d = politician_distances(faces, matrix)
    assert d.shape == (4, 3) and len(matrix) == 9
    np.testing.assert_allclose(d, _direct(faces, refs), atol=1e-12)


def test_grouping_and_minimum_per_politician() -> None:
    rng = np.random.default_rng(2)
    a, b = _random(rng, 2), _random(rng, 3)
    matrix = ReferenceMatrix.build({"b": list(b), "a": list(a)})
    assert matrix.labels == ("a", "b")
    assert matrix.count("a") == 2 and matrix.count("b") == 3
    faces = np.stack([a[1] + 1e-3, b[2] + 1e-3])
    per = politician_distances(faces, matrix)
    assert per.shape == (2, 2)
    np.testing.assert_allclose(per[0, 0], np.linalg.norm(faces[0] - a[1]), atol=1e-12)
    np.testing.assert_allclose(per[1, 1], np.linalg.norm(faces[1] - b[2]), atol=1e-12)
    assert list(np.argmin(per, axis=1)) == [0, 1]


def test_identical_vectors_have_exactly_zero_distance() -> None:
    # The |a|^2 + |b|^2 - 2ab shortcut cancels badly near zero; the core recomputes those entries.
    rng = np.random.default_rng(3)
    refs = _random(rng, 4)
    matrix = ReferenceMatrix.build({"x": list(refs)})
    np.testing.assert_array_less(politician_distances(refs, matrix), 1e-15)
    each = ReferenceMatrix.build({f"p{i}": [r] for i, r in enumerate(refs)})
    np.testing.assert_array_less(np.diag(politician_distances(refs, each)), 1e-15)


def test_empty_inputs() -> None:
    empty = ReferenceMatrix.build({})
    assert politician_distances(np.empty((0, 128)), empty).shape == (0, 0)
    assert politician_distances(np.zeros((2, 128)), empty).shape == (2, 0)
    matrix = ReferenceMatrix.build({"x": [np.zeros(128)]})
    assert politician_distances(np.empty((0, 128)), matrix).shape == (0, 1)


def test_agrees_with_face_recognition_on_real_encodings(real_encodings: dict[str, np.ndarray]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition
    # Importing face_recognition.api turns this on for the process; the intake must not inherit it.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    names = sorted(real_encodings)
    known = np.stack([real_encodings[n] for n in names])
    # One politician per photo: the per-politician minimum is then each pairwise distance.
    matrix = ReferenceMatrix.build({name: [real_encodings[name]] for name in names})
    ours = politician_distances(known, matrix)
    for i, name in enumerate(names):
        theirs = face_recognition.face_distance(known, real_encodings[name])
        np.testing.assert_allclose(ours[i], theirs, rtol=0, atol=1e-9)


def test_politician_distances_agree_with_face_recognition(real_encodings: dict[str, np.ndarray]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    obama = [real_encodings[n] for n in ("obama.jpg", "obama3.jpg")]
    matrix = ReferenceMatrix.build({"obama": obama, "biden": [real_encodings["biden.jpg"]]})
    for encoding in real_encodings.values():
        expected = [
            face_recognition.face_distance(np.stack([real_encodings["biden.jpg"]]), encoding).min(),
            face_recognition.face_distance(np.stack(obama), encoding).min(),
        ]
        np.testing.assert_allclose(
            politician_distances(encoding[None, :], matrix)[0], expected, rtol=0, atol=1e-9
        )
