"""Levers: what facegate's engine does, measured against the alternatives, side by side in one run.

Each lever calls the lower-level pieces (Pillow, dlib's detector, landmarks and descriptor) with other
parameters than ``app/`` uses, so a change in ``app/`` can be judged before it is made:
- JPEG draft-mode decoding (``Image.draft``) against a full decode and a downscale;
- detection on a copy of long side 640/1024/1600/2048, first pass without or with 1x upsampling;
- encoding from copies of long side 1024 (the detection copy), 2048 (facegate) or the full photo;
- dlib's batched descriptor call against one call per face;
- the alignment before the descriptor: dlib's 68-point landmarks (facegate) against its 5-point ones,
  per face (landmarks + descriptor) and per photo (``find_faces``).
"""

from __future__ import annotations

import io
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from app.faces.engine import FaceEngine, Landmarks, landmark_model_location
from app.faces.intake import DecodedImage, decode
from app.faces.matcher import ReferenceMatrix, politician_distances
from bench.common import (
    FULL_RESOLUTION,
    SIZES,
    engine_config,
    facegate_references,
    interleaved_times,
    jpeg_of,
    limits,
)
from harness.images import box_overlap, sample, side_by_side

DETECT_SIDES = (640, 1024, 1600, 2048)
ENCODE_SIDES = (1024, 2048, FULL_RESOLUTION)
DETECT_PHOTOS = (
    "obama.jpg",
    "obama2.jpg",
    "obama3.jpg",
    "biden.jpg",
    "astronaut.png",
    "obama_partial_face.jpg",
    "obama_partial_face2.jpg",
    "cat.png",
    "rocket.jpg",
)


def _alternate(fns: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Median seconds of each function, their runs interleaved (after one warm-up call each)."""
    return {name: statistics.median(values) for name, values in interleaved_times(fns, runs).items()}


def decode_without_draft(data: bytes, max_side: int) -> DecodedImage:
    """``intake.decode`` without ``Image.draft``: every pixel decoded, then downscaled."""
    image = Image.open(io.BytesIO(data))
    width, height = image.size
    image.load()
    rgb = image.convert("RGB")
    if max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return DecodedImage(image=rgb, width=width, height=height, format=str(image.format))


def draft(
    engine: FaceEngine, matrix: ReferenceMatrix, runs: int, sizes: tuple[str, ...]
) -> list[dict[str, Any]]:
    rows = []
    side = engine.config.encode_max_side
    for size in sizes:
        data = jpeg_of("obama2.jpg", SIZES[size])
        seconds = _alternate(
            {
                "draft": lambda d=data: decode(d, limits()),  # type: ignore[misc]
                "full": lambda d=data: decode_without_draft(d, side),  # type: ignore[misc]
            },
            runs,
        )
        with_draft = engine.find_faces(decode(data, limits()))
        without = engine.find_faces(decode_without_draft(data, side))
        distance = {
            name: float(politician_distances(found.encodings, matrix)[0, matrix.labels.index("obama")])
            for name, found in (("draft", with_draft), ("full", without))
        }
        rows.append(
            {
                "photo": f"obama2.jpg {size}",
                "decode_draft_s": seconds["draft"],
                "decode_full_s": seconds["full"],
                "speedup": seconds["full"] / seconds["draft"],
                "faces": [len(with_draft.boxes), len(without.boxes)],
                "distance_to_obama": distance,
            }
        )
    return rows


def detection(
    photos: dict[str, bytes], min_score: float, runs: int, sides: tuple[int, ...] = DETECT_SIDES
) -> dict[str, Any]:
    """Per side and first-pass upsampling: time per photo and whether the baseline's faces are found."""
    import dlib

    detector = dlib.get_frontal_face_detector()
    decoded = {name: decode(data, limits()) for name, data in photos.items()}

    def faces(image: DecodedImage, side: int, upsample: int) -> list[tuple[float, ...]]:
        pixels = image.pixels(side)
        scale = image.width / pixels.shape[1]
        for up in (upsample, 1) if upsample == 0 else (upsample,):  # the engine's second pass
            rects, scores, _ = detector.run(pixels, up, 0.0)
            kept = [r for r, s in zip(rects, scores, strict=True) if s >= min_score]
            if kept:
                return [tuple(v * scale for v in (r.left(), r.top(), r.right(), r.bottom())) for r in kept]
        return []

    baseline = {name: faces(image, 1024, 0) for name, image in decoded.items()}
    variants = []
    for side in sides:
        for upsample in (0, 1):
            found = {name: faces(image, side, upsample) for name, image in decoded.items()}
            same = [
                name
                for name, boxes in found.items()
                if len(boxes) == len(baseline[name])
                and all(max((box_overlap(b, a) for a in boxes), default=0) >= 0.5 for b in baseline[name])
            ]
            seconds = [
                median_of(lambda im=image, s=side, u=upsample: faces(im, s, u), runs)  # type: ignore[misc]
                for image in decoded.values()
            ]
            variants.append(
                {
                    "detect_max_side": side,
                    "first_pass_upsample": upsample,
                    "mean_s_per_photo": statistics.mean(seconds),
                    "faces": {name: len(boxes) for name, boxes in found.items()},
                    "same_faces_as_facegate": len(same),
                    "photos": len(found),
                    "differs_on": sorted(set(found) - set(same)),
                }
            )
    return {"baseline": "detect_max_side 1024, upsample 0 then 1 (facegate)", "variants": variants}


def median_of(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def encoding(
    runs: int, sizes: tuple[str, ...], sides: tuple[int, ...] = ENCODE_SIDES
) -> list[dict[str, Any]]:
    """Per encode_max_side: find_faces time and genuine/impostor distances (references encoded alike)."""
    rows = []
    for side in sides:
        engine = FaceEngine(engine_config(encode_max_side=side))
        matrix = ReferenceMatrix.build(facegate_references(engine, side))
        obama = matrix.labels.index("obama")
        row: dict[str, Any] = {"encode_max_side": side, "seconds": {}, "distance_to_obama": {}}
        for size in sizes:
            for photo in ("obama2.jpg", "biden.jpg"):
                data = jpeg_of(photo, SIZES[size])
                found = engine.find_faces(decode(data, limits(side)))
                key = f"{photo} {size}"
                row["distance_to_obama"][key] = float(politician_distances(found.encodings, matrix)[0, obama])
                if photo == "obama2.jpg":
                    row["seconds"][key] = median_of(
                        lambda d=data, e=engine, s=side: e.find_faces(decode(d, limits(s))),  # type: ignore[misc]
                        runs,
                    )
        rows.append(row)
    return rows


def batching(runs: int) -> dict[str, Any]:
    """dlib's descriptor for the 2 faces of a pasted picture: one batched call against one per face."""
    import dlib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition_models as models

    detector = dlib.get_frontal_face_detector()
    landmarks = dlib.shape_predictor(landmark_model_location(engine_config().landmarks))
    encoder = dlib.face_recognition_model_v1(models.face_recognition_model_location())
    pixels = decode(side_by_side("obama2.jpg", "biden.jpg"), limits()).pixels(2048)
    shapes = dlib.full_object_detections()
    for rect in detector(pixels, 0):
        shapes.append(landmarks(pixels, rect))

    def batched() -> np.ndarray[Any, Any]:
        return np.array([np.asarray(d) for d in encoder.compute_face_descriptor(pixels, shapes, 1)])

    def one_by_one() -> np.ndarray[Any, Any]:
        return np.array([np.asarray(encoder.compute_face_descriptor(pixels, s, 1)) for s in shapes])

    seconds = _alternate({"batched": batched, "per_face": one_by_one}, runs)
    return {
        "faces": len(shapes),
        "batched_s": seconds["batched"],
        "per_face_s": seconds["per_face"],
        "speedup": seconds["per_face"] / seconds["batched"],
        "max_abs_difference": float(np.abs(batched() - one_by_one()).max()),
    }


ALIGNMENTS: tuple[Landmarks, ...] = (5, 68)


def alignment(runs: int, size: str) -> dict[str, Any]:
    """What the 68-point alignment costs beside the 5-point one: per face (landmarks, descriptor) on
    obama2.jpg's encoding copy, and per photo (``find_faces`` of a ``size`` JPEG)."""
    import dlib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition_models as models

    encoder = dlib.face_recognition_model_v1(models.face_recognition_model_location())
    data = jpeg_of("obama2.jpg", SIZES[size])
    pixels = decode(data, limits()).pixels(2048)
    (rect,) = dlib.get_frontal_face_detector()(pixels, 0)
    rows: list[dict[str, Any]] = []
    for points in ALIGNMENTS:
        predictor = dlib.shape_predictor(landmark_model_location(points))
        shape = predictor(pixels, rect)
        engine = FaceEngine(engine_config(landmarks=points))
        seconds = _alternate(
            {
                "landmarks": lambda p=predictor: p(pixels, rect),  # type: ignore[misc]
                "descriptor": lambda s=shape: encoder.compute_face_descriptor(pixels, s, 1),  # type: ignore[misc]
                "find_faces": lambda e=engine: e.find_faces(decode(data, limits())),  # type: ignore[misc]
            },
            runs,
        )
        rows.append(
            {
                "landmarks": points,
                "landmarks_ms": seconds["landmarks"] * 1e3,
                "descriptor_ms": seconds["descriptor"] * 1e3,
                "per_face_ms": (seconds["landmarks"] + seconds["descriptor"]) * 1e3,
                "find_faces_s": seconds["find_faces"],
            }
        )
    five, sixty_eight = rows
    return {
        "photo": f"obama2.jpg {size}",
        "rows": rows,
        "per_face_ratio": sixty_eight["per_face_ms"] / five["per_face_ms"],
        "find_faces_ratio": sixty_eight["find_faces_s"] / five["find_faces_s"],
    }


def run(
    quick: bool = False, engine: FaceEngine | None = None, matrix: ReferenceMatrix | None = None
) -> dict[str, Any]:
    engine = engine or FaceEngine(engine_config())
    matrix = matrix or ReferenceMatrix.build(facegate_references(engine))
    runs = 1 if quick else 5
    sizes = ("small",) if quick else ("medium", "phone")
    photos = {name: sample(name) for name in (DETECT_PHOTOS[1:2] if quick else DETECT_PHOTOS)}
    if not quick:
        photos["obama2.jpg phone"] = jpeg_of("obama2.jpg", SIZES["phone"])
        photos["two faces (side_by_side)"] = side_by_side("obama2.jpg", "biden.jpg")
    return {
        "draft": draft(engine, matrix, runs, sizes),
        "detection": detection(
            photos, engine.config.min_detection_score, runs, (1024,) if quick else DETECT_SIDES
        ),
        "encoding": encoding(runs, sizes, (1024,) if quick else ENCODE_SIDES),
        "batching": batching(1 if quick else 15),
        "alignment": alignment(1 if quick else 15, "small" if quick else "phone"),
        "openblas": "not measured: dlib built against OpenBLAS needs a ~12 minute compile",
    }
