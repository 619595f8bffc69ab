"""facegate's verify pipeline against plain face_recognition, on the same photos, in one run.

`uv run python -m bench.pipeline` prints per photo size the median and p95 time of:
- plain: ``face_recognition.load_image_file`` + ``face_encodings`` (default upsampling) + ``face_distance``;
- facegate: ``decode`` + ``FaceEngine.find_faces`` + ``decide``, in this process (one worker's work);
and both verdicts. Photos are made from the sample set: small (~0.3 MP), medium (~1.5 MP) and a 12 MP
phone-size JPEG.
"""

from __future__ import annotations

import io
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile

from app.config import Settings
from app.faces.core import ReferenceMatrix
from app.faces.engine import EngineConfig, FaceEngine
from app.faces.intake import Limits, decode
from app.faces.verdict import decide
from tests.images import open_sample, sample

SIZES = {"small 0.3MP": 0.3e6, "medium 1.5MP": 1.5e6, "phone 12MP": 12e6}


@dataclass
class Row:
    photo: str
    size: str
    plain_median: float
    plain_p95: float
    ours_median: float
    ours_p95: float
    plain_verdict: str
    ours_verdict: str


def jpeg_of(name: str, pixels: float) -> bytes:
    image = open_sample(name).convert("RGB")
    scale = (pixels / (image.width * image.height)) ** 0.5
    resized = image.resize(
        (round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS
    )
    out = io.BytesIO()
    resized.save(out, "JPEG", quality=90)
    return out.getvalue()


def timed(fn: Callable[[], str], runs: int) -> tuple[list[float], str]:
    result = fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return times, result


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main(runs: int = 5, photos: tuple[str, ...] = ("obama2.jpg", "biden.jpg", "astronaut.png")) -> list[Row]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # face_recognition turned it on; facegate keeps it off

    settings = Settings(_env_file=None)
    engine = FaceEngine(
        EngineConfig(settings.detect_max_side, settings.encode_max_side, settings.min_detection_score)
    )
    limits = Limits(settings.max_upload_bytes, settings.max_image_pixels, settings.encode_max_side)
    refs = {}
    for slug, name in (("obama", "obama.jpg"), ("biden", "biden.jpg")):
        refs[slug] = [engine.find_faces(decode(sample(name), limits)).encodings[0]]
    matrix = ReferenceMatrix.build(refs)
    known = np.stack([refs["obama"][0], refs["biden"][0]])

    def plain(data: bytes) -> str:
        image = face_recognition.load_image_file(io.BytesIO(data))
        encodings = face_recognition.face_encodings(image)
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        if len(encodings) != 1:
            return "no_face" if not encodings else "multiple_faces"
        return "match" if face_recognition.face_distance(known[:1], encodings[0])[0] <= 0.6 else "no_match"

    def ours(data: bytes) -> str:
        found = engine.find_faces(decode(data, limits))
        verdict = decide(
            boxes=found.boxes,
            encodings=found.encodings,
            references=matrix,
            tolerances={},
            default_tolerance=settings.tolerance,
            expected="obama",
        )
        return verdict.reason.value

    rows = []
    for photo in photos:
        for size, pixels in SIZES.items():
            data = jpeg_of(photo, pixels)
            plain_times, plain_verdict = timed(lambda d=data: plain(d), runs)  # type: ignore[misc]
            our_times, our_verdict = timed(lambda d=data: ours(d), runs)  # type: ignore[misc]
            rows.append(
                Row(
                    photo,
                    size,
                    statistics.median(plain_times),
                    p95(plain_times),
                    statistics.median(our_times),
                    p95(our_times),
                    plain_verdict,
                    our_verdict,
                )
            )
    header = f"{'photo':<14} {'size':<13} {'plain med/p95 s':>16} {'facegate med/p95 s':>19}"
    print(f"{header} {'speed-up':>8}  verdicts")
    for r in rows:
        plain_text = f"{r.plain_median:>7.3f}/{r.plain_p95:<7.3f}"
        our_text = f"{r.ours_median:>8.3f}/{r.ours_p95:<8.3f}"
        speed_up = r.plain_median / r.ours_median
        print(
            f"{r.photo:<14} {r.size:<13} {plain_text}  {our_text}  {speed_up:>7.1f}x"
            f"  {r.plain_verdict} / {r.ours_verdict}"
        )
    return rows


if __name__ == "__main__":
    main()
