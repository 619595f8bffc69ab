"""Accuracy beside speed: genuine and impostor distances, and every verdict facegate and plain disagree on.

Both paths use their own reference encodings of ``reference_faces/`` (plain: ``face_recognition`` on
the full photo; facegate: ``decode`` + ``FaceEngine``). Each sample photo is claimed as every
politician, and both verdicts are compared. A difference gets its reason from the detector scores.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from app.faces.engine import FaceEngine
from app.faces.intake import decode
from app.faces.matcher import Matrix, ReferenceMatrix, politician_distances
from app.faces.verdict import decide
from bench.common import (
    engine_config,
    face_recognition,
    facegate_references,
    limits,
    plain_references,
    reference_photos,
)
from bench.common import settings as default_settings
from harness.images import sample

# Who each sample photo shows (None: not one of the politicians).
TRUTH: dict[str, str | None] = {
    "obama.jpg": "obama",
    "obama2.jpg": "obama",
    "obama3.jpg": "obama",
    "obama2_rgba.png": "obama",
    "obama_partial_face.jpg": "obama",
    "obama_partial_face2.jpg": "obama",
    "biden.jpg": "biden",
    "astronaut.png": None,
    "cat.png": None,
    "coffee.png": None,
    "logo.png": None,
    "rocket.jpg": None,
}
QUICK_PHOTOS = ("obama2.jpg", "cat.png")


@dataclass
class PathResult:
    faces: int
    distances: list[dict[str, float]]  # per face: politician -> smallest distance
    verdicts: dict[str, str]  # claimed politician -> reason


@dataclass
class Paths:
    """Both paths, loaded once: engines, references and the plain detector."""

    engine: FaceEngine
    matrix: ReferenceMatrix
    plain_refs: dict[str, Matrix]
    tolerance: float
    min_score: float
    detector: Any = field(repr=False)

    @classmethod
    def load(cls, engine: FaceEngine | None = None, shared_references: bool = False) -> Paths:
        """Both paths; ``shared_references`` (smoke runs) skips plain's own reference encodings (~5 s)."""
        import dlib

        engine = engine or FaceEngine(engine_config())
        ours = facegate_references(engine)
        plain = {
            slug: np.stack(rows) for slug, rows in (ours if shared_references else plain_references()).items()
        }
        return cls(
            engine=engine,
            matrix=ReferenceMatrix.build(ours),
            plain_refs=plain,
            tolerance=default_settings().tolerance,
            min_score=engine.config.min_detection_score,
            detector=dlib.get_frontal_face_detector(),
        )

    def facegate(self, data: bytes) -> PathResult:
        found = self.engine.find_faces(decode(data, limits()))
        per = politician_distances(found.encodings, self.matrix)
        verdicts = {}
        for slug in self.matrix.labels:
            verdict = decide(
                boxes=found.boxes,
                encodings=found.encodings,
                references=self.matrix,
                tolerances={},
                default_tolerance=self.tolerance,
                expected=slug,
            )
            verdicts[slug] = verdict.reason.value
        distances = [dict(zip(self.matrix.labels, map(float, row), strict=True)) for row in per]
        return PathResult(len(found.boxes), distances, verdicts)

    def plain_pixels(self, data: bytes) -> npt.NDArray[np.uint8]:
        pixels: npt.NDArray[np.uint8] = face_recognition().load_image_file(io.BytesIO(data))
        return pixels

    def plain(self, data: bytes) -> PathResult:
        fr = face_recognition()
        encodings = fr.face_encodings(self.plain_pixels(data))
        distances = [
            {slug: float(fr.face_distance(refs, e).min()) for slug, refs in self.plain_refs.items()}
            for e in encodings
        ]
        verdicts = {}
        for slug in self.plain_refs:
            if len(encodings) != 1:
                verdicts[slug] = "no_face" if not encodings else "multiple_faces"
            else:
                verdicts[slug] = "match" if distances[0][slug] <= self.tolerance else "no_match"
        return PathResult(len(encodings), distances, verdicts)

    def explain(self, data: bytes, plain: PathResult, ours: PathResult, claim: str) -> str:
        """Why the two verdicts on this photo differ, from the plain path's detector scores."""
        _, scores, _ = self.detector.run(self.plain_pixels(data), 1, 0.0)
        weak = [round(float(s), 3) for s in scores if s < self.min_score]
        if plain.faces > ours.faces and weak and len(scores) - len(weak) == ours.faces:
            return (
                f"false detection: plain counts {len(weak)} HOG hit(s) scoring {weak}, below"
                f" min_detection_score {self.min_score}; facegate drops them"
            )
        if plain.faces > ours.faces:
            return (
                f"plain finds {plain.faces} faces with 2x upsampling of the full photo (scores"
                f" {[round(float(s), 2) for s in scores]}); facegate counts only the larger faces of its"
                " first pass (>= ~1/13 of the long side)"
            )
        if plain.faces < ours.faces:
            return f"facegate finds {ours.faces} faces, plain {plain.faces}"
        if plain.faces == ours.faces == 1:
            return (
                f"distance to {claim}: plain {plain.distances[0][claim]:.3f}, facegate"
                f" {ours.distances[0][claim]:.3f}, tolerance {self.tolerance}: facegate encodes from a"
                " copy of at most encode_max_side px"
            )
        return "same face count, different verdict"


def differences(
    paths: Paths, photo: str, data: bytes, plain: PathResult, ours: PathResult
) -> list[dict[str, str]]:
    out = []
    for claim, verdict in plain.verdicts.items():
        if ours.verdicts.get(claim) != verdict:
            out.append(
                {
                    "photo": photo,
                    "claim": claim,
                    "plain": verdict,
                    "facegate": ours.verdicts[claim],
                    "reason": paths.explain(data, plain, ours, claim),
                }
            )
    return out


def run(paths: Paths, photos: tuple[str, ...] = tuple(TRUTH)) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    diffs: list[dict[str, str]] = []
    genuine: dict[str, list[float]] = {"plain": [], "facegate": []}
    impostor: dict[str, list[float]] = {"plain": [], "facegate": []}
    references = {p.name for ps in reference_photos().values() for p in ps}
    for photo in photos:
        data = sample(photo)
        plain, ours = paths.plain(data), paths.facegate(data)
        truth = TRUTH[photo]
        is_reference = photo in references
        for name, result in (("plain", plain), ("facegate", ours)):
            for face in result.distances:
                for slug, distance in face.items():
                    if slug == truth and not is_reference:
                        genuine[name].append(distance)
                    elif slug != truth:
                        impostor[name].append(distance)
        rows.append(
            {
                "photo": photo,
                "truth": truth,
                "reference_photo": is_reference,
                "plain": asdict(plain),
                "facegate": asdict(ours),
            }
        )
        diffs.extend(differences(paths, photo, data, plain, ours))
    return {
        "tolerance": paths.tolerance,
        "photos": rows,
        "genuine": {k: _range(v) for k, v in genuine.items()},
        "impostor": {k: _range(v) for k, v in impostor.items()},
        "differences": diffs,
    }


def _range(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "min": None, "max": None}
    return {"n": len(values), "min": min(values), "max": max(values)}
