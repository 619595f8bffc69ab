"""`make bench`: every measurement side by side in one run; a table, a JSON file and a PNG plot.

    python -m bench.run [--quick] [--out artifacts/bench] [--skip-nocodb]

``--quick`` runs the cheap parts with minimal sizes and no real NocoDB (the smoke test runs it);
``--skip-nocodb`` keeps the full sizes but leaves out the parts that need a real NocoDB
(submission-to-decision latency and memory with 200 queued jobs).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Only the standard library at import time: the face worker processes are started with ``spawn``,
# which imports this module (``__main__``) again in every worker.
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "artifacts" / "bench"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _step(name: str, fn: Callable[[], Any], timings: dict[str, float]) -> Any:
    print(f"[bench] {name} ...", flush=True)
    started = time.perf_counter()
    result = fn()
    timings[name] = time.perf_counter() - started
    print(f"[bench] {name} done in {timings[name]:.1f} s", flush=True)
    return result


def measure(quick: bool = False, skip_nocodb: bool = False) -> dict[str, Any]:
    """Run every part and return the results (the JSON file's content)."""
    from bench import accuracy, deepfakes, explicit, levers, matcher, pipeline, throughput, webhook_latency
    from bench.report import targets

    started = time.perf_counter()
    timings: dict[str, float] = {}
    r: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "cores": os.cpu_count(),
        "load_before": _load(),
        "timings_s": timings,
        "skipped": {},
    }
    paths = _step(
        "load engines and references", lambda: accuracy.Paths.load(shared_references=quick), timings
    )
    if quick:
        r["pipeline"] = _step(
            "pipeline", lambda: pipeline.run(paths, ("obama2.jpg",), ("small",), {"small": 1}), timings
        )
        r["accuracy"] = _step("accuracy", lambda: accuracy.run(paths, accuracy.QUICK_PHOTOS), timings)
        r["deepfakes"] = _step(
            "deepfake set",
            lambda: deepfakes.run(
                quick=True, variants=(deepfakes.APP,), encoders=deepfakes.Encoders(paths.engine)
            ),
            timings,
        )
        r["explicit"] = _step(
            "explicit gate",
            lambda: explicit.run(paths.engine, sizes=("sample",), runs={"sample": 1}),
            timings,
        )
        r["matcher"] = _step("matcher", lambda: matcher.run([(1, 5), (4, 50)], budget=0.02), timings)
        r["throughput"] = _step("throughput", lambda: throughput.run(count=2, single_pool=True), timings)
        r["webhook"] = _step(
            "webhook", lambda: webhook_latency.run(30, (1, 5), 20.0, ("as shipped",), workers=1), timings
        )
    else:
        r["pipeline"] = _step("pipeline", lambda: pipeline.run(paths), timings)
        r["accuracy"] = _step("accuracy", lambda: accuracy.run(paths), timings)
        r["deepfakes"] = _step(
            "deepfake set", lambda: deepfakes.run(encoders=deepfakes.Encoders(paths.engine)), timings
        )
        r["explicit"] = _step("explicit gate", lambda: explicit.run(paths.engine), timings)
        r["matcher"] = _step("matcher", matcher.run, timings)
        r["throughput"] = _step("throughput", lambda: throughput.run(count=40), timings)
        r["warm_up"] = _step("warm-up lever", throughput.warm_up_lever, timings)
        r["webhook"] = _step("webhook", webhook_latency.run, timings)
    r["levers"] = _step("levers", lambda: levers.run(quick, paths.engine, paths.matrix), timings)
    if quick or skip_nocodb:
        reason = "--quick" if quick else "--skip-nocodb"
        r["skipped"] = {"end_to_end": reason, "memory": reason}
    else:
        from bench import end_to_end, memory
        from harness.nocodb import running_nocodb

        with running_nocodb() as nocodb:
            r["end_to_end"] = _step("end to end", lambda: end_to_end.run(nocodb, uploads=20), timings)
            r["memory"] = _step("memory", lambda: memory.run(nocodb, rows=200), timings)
    r["load_after"] = _load()
    r["seconds"] = time.perf_counter() - started
    r["targets"] = targets(r)
    return r


def write(r: dict[str, Any], out: Path) -> dict[str, Path]:
    from bench.plot import calibration_plot, plot
    from bench.report import render

    out.mkdir(parents=True, exist_ok=True)
    files = {"json": out / "bench.json", "png": out / "bench.png", "txt": out / "bench.txt"}
    text = render(r)
    files["json"].write_text(json.dumps(r, indent=1, default=str))
    files["txt"].write_text(text + "\n")
    plot(r, files["png"])
    if r.get("deepfakes"):
        files["calibration"] = out / "calibration.png"
        calibration_plot(r["deepfakes"], files["calibration"])
    return files


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="minimal sizes, no real NocoDB (smoke run)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for bench.json/png/txt")
    parser.add_argument("--skip-nocodb", action="store_true", help="leave out the real-NocoDB parts")
    args = parser.parse_args(argv)
    r = measure(quick=args.quick, skip_nocodb=args.skip_nocodb)
    files = write(r, args.out)
    print(files["txt"].read_text(), end="")
    print("\n" + "  ".join(f"{kind}: {path}" for kind, path in files.items()))
    return r


if __name__ == "__main__":
    main()
