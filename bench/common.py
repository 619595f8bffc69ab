"""Shared by the benchmarks: settings, timing, test photos, reference encodings."""

from __future__ import annotations

import io
import statistics
import time
import warnings
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from PIL import Image, ImageFile

from app.config import Settings
from app.faces.engine import EngineConfig, FaceEngine
from app.faces.intake import Limits, decode
from app.faces.matcher import Matrix
from app.politicians.profiles import read_politicians
from harness.images import ROOT, open_sample

REFERENCE_DIR = ROOT / "reference_faces"
# Pixel counts of the JPEGs made from the samples; "phone" is the size of a 12 MP phone photo.
SIZES: dict[str, float] = {"small": 0.3e6, "medium": 1.5e6, "phone": 12e6}
FULL_RESOLUTION = 16384  # an encode/decode side that never reduces a photo


@cache
def settings() -> Settings:
    """facegate's defaults, ignoring any ``.env`` of the checkout."""
    return Settings(_env_file=None)


def engine_config(**overrides: Any) -> EngineConfig:
    s = settings()
    values: dict[str, Any] = {
        "detect_max_side": s.detect_max_side,
        "encode_max_side": s.encode_max_side,
        "min_detection_score": s.min_detection_score,
        "landmarks": s.landmarks,
    }
    return EngineConfig(**(values | overrides))


def limits(max_side: int | None = None) -> Limits:
    s = settings()
    return Limits(s.max_upload_bytes, s.max_image_pixels, max_side or s.encode_max_side)


def median_seconds(fn: Callable[[], object], *, min_runs: int = 7, budget: float = 1.5) -> float:
    """Median wall time of ``fn`` after one warm-up call: at least ``min_runs``, up to ``budget`` s."""
    fn()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < min_runs or (time.perf_counter() - started < budget and len(times) < 200):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def timed(fn: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    """``runs`` wall times of ``fn`` after one untimed warm-up call, and its last result."""
    result = fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return times, result


def interleaved_times(fns: dict[str, Callable[[], object]], runs: int) -> dict[str, list[float]]:
    """Wall times of each function, their runs interleaved so that load drifts hit all alike (after
    one warm-up call each)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(runs):
        for name, fn in fns.items():
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    return times


@cache
def jpeg_of(name: str, pixels: float, quality: int = 90) -> bytes:
    """A sample photo resized to about ``pixels`` pixels, as a JPEG (12 MP is a phone photo)."""
    image = open_sample(name).convert("RGB")
    scale = (pixels / (image.width * image.height)) ** 0.5
    size = (round(image.width * scale), round(image.height * scale))
    out = io.BytesIO()
    image.resize(size, Image.Resampling.LANCZOS).save(out, "JPEG", quality=quality)
    return out.getvalue()


def face_recognition() -> ModuleType:
    """``face_recognition``, imported without its warnings; Pillow's truncated-image switch is reset."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition as module
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    return module  # type: ignore[no-any-return]


def reference_photos(reference_dir: Path = REFERENCE_DIR) -> dict[str, list[Path]]:
    return {p.slug: list(p.photos) for p in read_politicians(reference_dir)}


def facegate_references(engine: FaceEngine, max_side: int | None = None) -> dict[str, list[Matrix]]:
    """Each politician's reference encodings, as facegate computes them (one face per photo)."""
    out: dict[str, list[Matrix]] = {}
    for slug, photos in reference_photos().items():
        found = [engine.find_faces(decode(p.read_bytes(), limits(max_side))) for p in photos]
        out[slug] = [f.encodings[0] for f in found if len(f.boxes) == 1]
    return out


def plain_references() -> dict[str, list[Matrix]]:
    """Each politician's reference encodings, as plain face_recognition computes them."""
    fr = face_recognition()
    out: dict[str, list[Matrix]] = {}
    for slug, photos in reference_photos().items():
        encodings = []
        for photo in photos:
            found = fr.face_encodings(fr.load_image_file(photo))
            if len(found) == 1:
                encodings.append(np.asarray(found[0], dtype=np.float64))
        out[slug] = encodings
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    return out
