"""facegate's verify pipeline against plain face_recognition, on the same photos, in one run.

`uv run python -m bench.pipeline` prints per photo and size the median and p95 time of:
- plain: ``face_recognition.load_image_file`` + ``face_encodings`` (default upsampling) + ``face_distance``;
- facegate: ``decode`` + ``FaceEngine.find_faces`` + ``decide``, in this process (one worker's work);
and both verdicts (the photo claimed as Obama). The runs of both paths alternate, so a noisy
neighbour slows both alike. Photos are JPEGs made from the samples: small (~0.3 MP), medium (~1.5 MP)
and phone-size (12 MP).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.accuracy import PathResult, Paths, differences
from bench.common import SIZES, jpeg_of
from harness.stats import percentile

CLAIM = "obama"
PHOTOS = ("obama2.jpg", "biden.jpg", "astronaut.png")
# The plain path takes 6-10 s on a 12 MP photo: fewer runs there (p95 of 3 runs is their maximum).
RUNS = {"small": 7, "medium": 5, "phone": 3}


def _time(fn: Any, data: bytes) -> tuple[float, PathResult]:
    started = time.perf_counter()
    result = fn(data)
    return time.perf_counter() - started, result


def measure(paths: Paths, photo: str, size: str, runs: int) -> dict[str, Any]:
    data = jpeg_of(photo, SIZES[size])
    plain_times: list[float] = []
    our_times: list[float] = []
    for _ in range(runs):
        seconds, plain = _time(paths.plain, data)
        plain_times.append(seconds)
        seconds, ours = _time(paths.facegate, data)
        our_times.append(seconds)
    plain_median, our_median = statistics.median(plain_times), statistics.median(our_times)
    return {
        "photo": photo,
        "size": size,
        "megapixels": SIZES[size] / 1e6,
        "bytes": len(data),
        "runs": runs,
        "plain": {"median": plain_median, "p95": percentile(plain_times, 95), "times": plain_times},
        "facegate": {"median": our_median, "p95": percentile(our_times, 95), "times": our_times},
        "speedup": plain_median / our_median,
        "plain_verdict": plain.verdicts[CLAIM],
        "facegate_verdict": ours.verdicts[CLAIM],
        "differences": [
            d for d in differences(paths, f"{photo} {size}", data, plain, ours) if d["claim"] == CLAIM
        ],
    }


def run(
    paths: Paths,
    photos: tuple[str, ...] = PHOTOS,
    sizes: tuple[str, ...] = tuple(SIZES),
    runs: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    runs = runs or RUNS
    paths.plain(jpeg_of(photos[0], SIZES[sizes[0]]))  # warm both paths once
    paths.facegate(jpeg_of(photos[0], SIZES[sizes[0]]))
    return [measure(paths, photo, size, runs[size]) for photo in photos for size in sizes]


def main() -> None:
    rows = run(Paths.load())
    print(f"{'photo':<14} {'size':<7} {'plain med/p95 s':>16} {'facegate med/p95 s':>19} {'speed-up':>8}")
    for r in rows:
        plain, ours = r["plain"], r["facegate"]
        print(
            f"{r['photo']:<14} {r['size']:<7} {plain['median']:>7.3f}/{plain['p95']:<7.3f}"
            f"  {ours['median']:>8.3f}/{ours['p95']:<8.3f}  {r['speedup']:>7.1f}x"
            f"  {r['plain_verdict']} / {r['facegate_verdict']}"
        )


if __name__ == "__main__":
    main()
