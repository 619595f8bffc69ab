"""The explicit-content gate's cost beside the face pipeline's, on the same photos, in one run.

`uv run python -m bench.explicit [--plain]` prints per photo size the median time of:
- face pipeline: ``decode`` + ``FaceEngine.find_faces`` (one face worker's work, as ``bench.pipeline``);
- gate: ``ExplicitDetector.detect`` (one onnxruntime thread) on the pixels a face worker has, the decoded
  copy of at most ``encode_max_side`` px (``decoded.pixels(...)`` included), and on the photo's full
  pixels (what NudeNet itself would read);
and the ratio gate / face pipeline. The runs of all three alternate, so a noisy neighbour slows them
alike. Photos: obama.jpg as it is (910 x 1137) and as a 12 MP phone photo (3099 x 3872 JPEG).
Also: the gate with onnxruntime's default thread pool (what one thread costs a picture when the
machine is otherwise idle), and the RSS a face worker gains by loading the model, in a fresh process.
``--plain`` adds the 12 MP speed-up over plain face_recognition with the gate (``bench.pipeline``).

From ``bench.run``: ``explicit.run(paths.engine)`` for the results, ``explicit.lines(result)`` for the
table; ``explicit.phone_speedups(r["pipeline"], result)`` for the 12 MP speed-up target with the gate.
"""

from __future__ import annotations

import io
import json
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np
from PIL import Image

from app.faces.engine import FaceEngine
from app.faces.explicit import ExplicitDetector
from app.faces.intake import decode
from bench.common import SIZES, engine_config, interleaved_times, jpeg_of, limits
from harness.images import ROOT, sample
from harness.stats import MIB, percentile

PHOTO = "obama.jpg"
SIZES_MEASURED = ("sample", "phone")  # the photo as it is, and 12 MP
RUNS = {"sample": 9, "phone": 7}

# Run in a fresh interpreter: a face worker's memory before and after it loads the gate.
_RSS_SCRIPT = """
import json, psutil, numpy as np
rss = lambda: psutil.Process().memory_info().rss
from bench.common import engine_config
from app.faces.engine import FaceEngine
engine = FaceEngine(engine_config())
out = {"face_worker": rss()}
import cv2, onnxruntime
out["imports"] = rss()
from app.faces.explicit import ExplicitDetector
detector = ExplicitDetector()
out["session"] = rss()
pixels = np.full((2048, 1536, 3), 128, np.uint8)
detector.detect(pixels)
out["first_detect"] = rss()
for _ in range(20):
    detector.detect(pixels)
out["steady"] = rss()
print(json.dumps(out))
"""


def _photo(size: str) -> bytes:
    return sample(PHOTO) if size == "sample" else jpeg_of(PHOTO, SIZES[size])


def measure(engine: FaceEngine, detector: ExplicitDetector, size: str, runs: int) -> dict[str, Any]:
    data = _photo(size)
    decoded = decode(data, limits())
    side = engine.config.encode_max_side
    full = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    times = interleaved_times(
        {
            "face": lambda: engine.find_faces(decode(data, limits())),
            "gate": lambda: detector.detect(decoded.pixels(side)),
            "gate_full": lambda: detector.detect(full),
        },
        runs,
    )
    median = {name: statistics.median(values) for name, values in times.items()}
    return {
        "photo": PHOTO,
        "size": size,
        "width": full.shape[1],
        "height": full.shape[0],
        "worker_copy": list(decoded.pixels(side).shape[1::-1]),
        "runs": runs,
        "face_s": median["face"],
        "gate_s": median["gate"],
        "gate_p95_s": percentile(times["gate"], 95),
        "gate_full_s": median["gate_full"],
        "ratio": median["gate"] / median["face"],
        "ratio_full": median["gate_full"] / median["face"],
        "detections": [
            {"label": d.label, "score": round(d.score, 3), "box": list(d.box)}
            for d in detector.detect(decoded.pixels(side))
        ],
    }


def threads(detector: ExplicitDetector, runs: int) -> dict[str, Any]:
    """The gate on the sample photo with one onnxruntime thread and with its default pool."""
    pooled = ExplicitDetector(threads=0)  # 0: onnxruntime's default, one thread per physical core
    pixels = decode(sample(PHOTO), limits()).pixels(limits().max_side)
    times = interleaved_times(
        {"one": lambda: detector.detect(pixels), "pool": lambda: pooled.detect(pixels)}, runs
    )
    one, pool = statistics.median(times["one"]), statistics.median(times["pool"])
    return {"one_thread_s": one, "default_pool_s": pool, "one_over_pool": one / pool}


def model_memory() -> dict[str, float]:
    """RSS (MiB) of a fresh process with a face engine, and what the gate adds at each step."""
    result = subprocess.run(  # noqa: S603 (this module's own script, this interpreter)
        [sys.executable, "-c", _RSS_SCRIPT], cwd=ROOT, capture_output=True, text=True, check=True, timeout=300
    )
    rss: dict[str, int] = json.loads(result.stdout.strip().splitlines()[-1])
    base = rss["face_worker"]
    return {
        "face_worker_mib": base / MIB,
        "imports_mib": (rss["imports"] - base) / MIB,
        "session_mib": (rss["session"] - base) / MIB,
        "first_detect_mib": (rss["first_detect"] - base) / MIB,
        "steady_mib": (rss["steady"] - base) / MIB,
    }


def run(
    engine: FaceEngine | None = None,
    sizes: tuple[str, ...] = SIZES_MEASURED,
    runs: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Everything above; ``engine``: the benchmark's face engine, if it has one loaded already."""
    runs = runs or RUNS
    engine = engine or FaceEngine(engine_config())
    started = time.perf_counter()
    detector = ExplicitDetector()
    load_s = time.perf_counter() - started
    return {
        "load_s": load_s,
        "rows": [measure(engine, detector, size, runs[size]) for size in sizes],
        "threads": threads(detector, runs[sizes[0]]),
        "memory": model_memory(),
    }


def phone_speedups(pipeline_rows: list[dict[str, Any]], result: dict[str, Any]) -> list[dict[str, Any]]:
    """``bench.pipeline``'s 12 MP speed-ups over plain face_recognition, without and with the gate.

    The gate's time is its 12 MP time on the worker's copy: it depends on the pixel count, not the photo.
    """
    gate = next(r["gate_s"] for r in result["rows"] if r["size"] == "phone")
    return [
        {
            "photo": row["photo"],
            "plain_s": row["plain"]["median"],
            "facegate_s": row["facegate"]["median"],
            "gate_s": gate,
            "speedup": row["speedup"],
            "speedup_with_gate": row["plain"]["median"] / (row["facegate"]["median"] + gate),
        }
        for row in pipeline_rows
        if row["size"] == "phone"
    ]


def lines(result: dict[str, Any], speedups: list[dict[str, Any]] | None = None) -> list[str]:
    """The printed table."""
    out = [
        "explicit-content gate (NudeNet 320n, one onnxruntime thread) vs the face pipeline, per photo:",
        f"{'photo':<10} {'size':<7} {'pixels':>11} {'worker copy':>11} {'face ms':>8} {'gate ms':>8}"
        f" {'gate/face':>9} {'gate on full px':>16}",
    ]
    for r in result["rows"]:
        copy = "x".join(map(str, r["worker_copy"]))
        out.append(
            f"{r['photo']:<10} {r['size']:<7} {r['width']:>5}x{r['height']:<5} {copy:>11}"
            f" {r['face_s'] * 1e3:>8.1f} {r['gate_s'] * 1e3:>8.1f} {r['ratio']:>9.3f}"
            f" {r['gate_full_s'] * 1e3:>7.1f} ms {r['ratio_full']:>5.3f}"
        )
        seen = ", ".join(f"{d['label']} {d['score']:.3f}" for d in r["detections"]) or "nothing"
        out.append(f"{'':<19} seen: {seen}")
    t, m = result["threads"], result["memory"]
    out.append(
        f"threads: one {t['one_thread_s'] * 1e3:.1f} ms, onnxruntime's default pool"
        f" {t['default_pool_s'] * 1e3:.1f} ms ({t['one_over_pool']:.2f}x) on a single picture"
    )
    out.append(
        f"memory: a face worker {m['face_worker_mib']:.0f} MiB; the gate adds {m['imports_mib']:.0f} MiB"
        f" (imports) + {m['session_mib'] - m['imports_mib']:.0f} MiB (session) = {m['session_mib']:.0f} MiB"
        f" loaded, {m['first_detect_mib']:.0f} MiB after the first picture, {m['steady_mib']:.0f} MiB steady"
        f"; model load {result['load_s'] * 1e3:.0f} ms"
    )
    for s in speedups or []:
        out.append(
            f"12 MP {s['photo']}: plain {s['plain_s']:.2f} s, facegate {s['facegate_s']:.3f} s"
            f" + gate {s['gate_s'] * 1e3:.0f} ms: speed-up {s['speedup']:.1f}x without,"
            f" {s['speedup_with_gate']:.1f}x with the gate"
        )
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = sys.argv[1:] if argv is None else argv
    engine = FaceEngine(engine_config())
    result = run(engine)
    speedups = None
    if "--plain" in args:
        from bench import pipeline
        from bench.accuracy import Paths

        paths = Paths.load(engine)
        rows = pipeline.run(paths, ("obama2.jpg", PHOTO), ("phone",), {"phone": 3})
        speedups = result["speedups"] = phone_speedups(rows, result)
    print("\n".join(lines(result, speedups)))
    return result


if __name__ == "__main__":
    main()
