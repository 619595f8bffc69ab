"""`make bench`: every measurement side by side in one run; a table, a JSON file and a PNG plot.

    python -m bench.run [--quick] [--out artifacts/bench] [--skip-nocodb] [--only PART[,PART]]

``--quick`` runs the cheap parts with minimal sizes and no real NocoDB (the smoke test runs it);
``--skip-nocodb`` keeps the full sizes but leaves out the parts that need a real NocoDB
(submission-to-decision latency, memory with 200 queued jobs, several instances on one PostgreSQL);
``--only instances,store_latency`` runs just those parts (the keys of the results, listed by ``--help``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

# Only the standard library at import time: the face worker processes are started with ``spawn``,
# which imports this module (``__main__``) again in every worker.
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "artifacts" / "bench"
# The parts, by their key in the results; ``--only`` selects some.
NOCODB_PARTS = ("end_to_end", "memory", "instances")
PARTS = (
    "pipeline", "accuracy", "deepfakes", "explicit", "matcher", "throughput", "rows", "warm_up", "webhook",
    "levers", "store_latency", *NOCODB_PARTS,
)  # fmt: skip
# Parts that use the face engine and the reference encodings loaded first.
NEEDS_ENGINES = frozenset({"pipeline", "accuracy", "explicit", "levers"})


def _parts(value: str) -> frozenset[str]:
    parts = frozenset(part.strip() for part in value.split(",") if part.strip())
    if unknown := parts - set(PARTS):
        raise argparse.ArgumentTypeError(
            f"unknown part(s) {', '.join(sorted(unknown))}; known: {', '.join(PARTS)}"
        )
    return parts


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _step(name: str, fn: Callable[[], Any], timings: dict[str, float]) -> Any:
    print(f"[bench] {name} ...", flush=True)
    started = time.perf_counter()
    result = fn()
    timings[name] = time.perf_counter() - started
    print(f"[bench] {name} done in {timings[name]:.1f} s", flush=True)
    return result


def measure(
    quick: bool = False, skip_nocodb: bool = False, only: Collection[str] | None = None
) -> dict[str, Any]:
    """Run every part, or the ``only`` ones (result keys); returns the results (the JSON file's content)."""
    from bench import (
        accuracy,
        deepfakes,
        explicit,
        instances,
        levers,
        matcher,
        pipeline,
        rows,
        throughput,
        webhook_latency,
    )
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

    def wanted(key: str) -> bool:
        return only is None or key in only

    @cache
    def paths() -> accuracy.Paths:
        loaded: accuracy.Paths = _step(
            "load engines and references", lambda: accuracy.Paths.load(shared_references=quick), timings
        )
        return loaded

    if any(wanted(key) for key in NEEDS_ENGINES):
        paths()  # first, timed on its own
    steps: list[tuple[str, str, Callable[[], Any]]]
    if quick:
        steps = [
            (
                "pipeline",
                "pipeline",
                lambda: pipeline.run(paths(), ("obama2.jpg",), ("small",), {"small": 1}),
            ),
            ("accuracy", "accuracy", lambda: accuracy.run(paths(), accuracy.QUICK_PHOTOS)),
            ("deepfakes", "calibration and the generated set", lambda: deepfakes.run(quick=True)),
            (
                "explicit",
                "explicit gate",
                lambda: explicit.run(paths().engine, sizes=("sample",), runs={"sample": 1}),
            ),
            ("matcher", "matcher", lambda: matcher.run([(1, 5), (4, 50)], budget=0.02)),
            ("throughput", "throughput", lambda: throughput.run(count=2, single_pool=True)),
            ("rows", "rows per second end to end", lambda: rows.run(rows=2)),
            (
                "webhook",
                "webhook",
                lambda: webhook_latency.run(30, (1, 5), 20.0, ("as shipped",), workers=1),
            ),
        ]
    else:
        steps = [
            ("pipeline", "pipeline", lambda: pipeline.run(paths())),
            ("accuracy", "accuracy", lambda: accuracy.run(paths())),
            ("deepfakes", "calibration and the generated set", deepfakes.run),
            ("explicit", "explicit gate", lambda: explicit.run(paths().engine)),
            ("matcher", "matcher", matcher.run),
            ("throughput", "throughput", lambda: throughput.run(count=40)),
            ("rows", "rows per second end to end", lambda: rows.run(rows=16, rounds=2)),
            ("warm_up", "warm-up lever", throughput.warm_up_lever),
            ("webhook", "webhook", webhook_latency.run),
        ]
    steps += [
        ("levers", "levers", lambda: levers.run(quick, paths().engine, paths().matrix)),
        (
            "store_latency",
            "store latency: SQLite vs PostgreSQL",
            lambda: instances.store_latency(jobs=10 if quick else 150),
        ),
    ]
    for key, name, fn in steps:
        if wanted(key):
            r[key] = _step(name, fn, timings)
    with_nocodb = [key for key in NOCODB_PARTS if wanted(key)]
    if quick or skip_nocodb:
        reason = "--quick" if quick else "--skip-nocodb"
        r["skipped"] = {key: reason for key in with_nocodb}
    elif with_nocodb:
        from bench import end_to_end, memory
        from harness.nocodb import running_nocodb

        with running_nocodb() as nocodb:
            nocodb_steps: list[tuple[str, str, Callable[[], Any]]] = [
                ("end_to_end", "end to end", lambda: end_to_end.run(nocodb, uploads=20)),
                ("memory", "memory", lambda: memory.run(nocodb, rows=200)),
                ("instances", "instances on one PostgreSQL", lambda: instances.throughput(nocodb)),
            ]
            for key, name, fn in nocodb_steps:
                if wanted(key):
                    r[key] = _step(name, fn, timings)
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
    parser.add_argument(
        "--only", type=_parts, metavar="PART[,PART]", help=f"only these parts: {', '.join(PARTS)}"
    )
    args = parser.parse_args(argv)
    r = measure(quick=args.quick, skip_nocodb=args.skip_nocodb, only=args.only)
    files = write(r, args.out)
    print(files["txt"].read_text(), end="")
    print("\n" + "  ".join(f"{kind}: {path}" for kind, path in files.items()))
    return r


if __name__ == "__main__":
    main()
