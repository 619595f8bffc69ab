"""Calibration measured: how long `facegate politicians calibrate` takes for a politician with three
photos, and what each demo politician's rule (its ``profile.toml``, as the command wrote it) does on
the generated set, which calibration never saw (``harness.deepfakes``: the politicians' sample photos
swapped and morphed onto people the bank does not hold, measured as facegate measures uploads).

The bar (issue 23), per politician: at least 90 % of the deepfakes kept (approved or review), no
stranger approved, at most 10 % of the strangers in review, every genuine sample approved.

    python -m bench.deepfakes [--quick] [--json FILE] [--plot FILE.png]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from app.commands.calibrate import calibrate_politicians
from app.politicians.calibration import MAX_STRANGERS_REVIEW, MIN_KEPT, Calibration, Count
from app.politicians.profiles import read_politicians
from bench.common import REFERENCE_DIR
from bench.common import settings as default_settings
from harness.calibration import judge, measure_unseen, rule_of, start_trial
from harness.deepfakes import HOSTS, POLITICIAN_PHOTOS
from harness.images import SAMPLES

# The demo politicians' sample photos that are not references: each must be approved.
GENUINE: dict[str, tuple[str, ...]] = {
    "obama": (
        "obama2.jpg",
        "obama2_rgba.png",
        "obama_partial_face.jpg",
        "obama_partial_face2.jpg",
        "obama4.jpg",
    ),
}
# The politician whose calibration is timed: Obama with three photos (a campaign's usual minister).
TIMED_PHOTOS = ("obama.jpg", "obama2.jpg", "obama3.jpg")
LIMIT_SECONDS = 120.0


def run(*, quick: bool = False) -> dict[str, Any]:
    """Time a calibration (not with ``quick``), and judge the shipped rules on the generated set
    (``quick``: onto two hosts only)."""
    started = time.perf_counter()
    result: dict[str, Any] = {
        "quick": quick,
        "bar": {"min_kept": MIN_KEPT, "max_strangers_review": MAX_STRANGERS_REVIEW},
    }
    if not quick:
        result["speed"] = timed_calibration()
    result["shipped"] = shipped(hosts=HOSTS[:2] if quick else HOSTS)
    result["seconds"] = time.perf_counter() - started
    return result


def timed_calibration() -> dict[str, Any]:
    """`facegate politicians calibrate obama --dry-run` with three photos of Obama (and Biden), twice:
    the first run may analyse the bank's faces (then cached), the second finds them cached."""
    settings = default_settings()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "reference_faces"
        shutil.copytree(REFERENCE_DIR, folder)
        for photo in TIMED_PHOTOS:
            shutil.copy(SAMPLES / photo, folder / "obama" / photo)
        runs = []
        for _ in range(2):
            load = os.getloadavg()[0]
            started = time.perf_counter()
            calibrate_politicians(
                settings, folder, slugs=["obama"], dry_run=True, out=io.StringIO(), progress=io.StringIO()
            )
            runs.append({"seconds": time.perf_counter() - started, "load_before": load})
    return {
        "photos": len(TIMED_PHOTOS),
        "workers": settings.workers,
        "cores": os.cpu_count(),
        "runs": runs,
        "limit_s": LIMIT_SECONDS,
        "met": runs[-1]["seconds"] < LIMIT_SECONDS,
    }


def shipped(hosts: tuple[str, ...] = HOSTS) -> dict[str, Any]:
    """Each demo politician's rule on the generated set: outcomes per kind of deepfake, strangers,
    genuine photos, and the samples themselves (for the plot)."""
    settings = default_settings()
    politicians = read_politicians(REFERENCE_DIR)
    out: dict[str, Any] = {}
    with start_trial(settings) as trial:
        for politician in politicians:
            others = [p for p in politicians if p.slug != politician.slug]
            measured = measure_unseen(
                trial,
                politician,
                others,
                sources=POLITICIAN_PHOTOS[politician.slug],
                genuine=GENUINE.get(politician.slug, ()),
                hosts=hosts,
            )
            out[politician.slug] = _judged(judge(measured, rule_of(politician, settings), settings.tolerance))
    return out


def _judged(c: Calibration) -> dict[str, Any]:
    m = c.measurement
    return {
        "approve_below": c.rule.approve_below,
        "review_up_to": c.rule.review_up_to,
        "tolerance": c.rule.tolerance,
        "band": c.rule.band,
        "deepfakes": {"all": _count(c.count(c.fakes))} | {k: _count(v) for k, v in c.by_kind.items()},
        "strangers": _count(c.count(m.strangers)),
        "genuine": _count(c.count(m.genuine)),
        "meets_bar": c.meets_bar,
        "samples": {
            "deepfakes": [asdict(s) for s in m.deepfakes],
            "strangers": [asdict(s) for s in m.strangers],
            "genuine": [asdict(s) for s in m.genuine],
        },
    }


def _count(count: Count) -> dict[str, Any]:
    return {"n": count.n, "approved": count.approved, "review": count.review, "kept_share": count.kept_share}


def lines(result: dict[str, Any]) -> list[str]:
    """The report's lines (``make bench`` prints them)."""
    out = []
    speed = result.get("speed")
    if speed:
        times = ", then ".join(f"{r['seconds']:.0f} s (load {r['load_before']:.1f})" for r in speed["runs"])
        mark = "meets" if speed["met"] else "MISSES"
        out.append(
            f"calibrating obama with {speed['photos']} photos on {speed['cores']} cores, {speed['workers']}"
            f" workers: {times}; {mark} the {speed['limit_s']:.0f} s target"
        )
    out.append("shipped rules (profile.toml) on the generated set: kept = approved + review")
    for slug, s in result["shipped"].items():
        mark = "meets" if s["meets_bar"] else "MISSES"
        out.append(
            f"  {slug}: approved < {s['approve_below']:.3f}, review up to {s['review_up_to']:.3f}:"
            f" {mark} the bar"
        )
        for kind, c in s["deepfakes"].items():
            out.append(
                f"    deepfakes {kind:12s} {c['n']:3d}: kept {c['kept_share']:.0%}"
                f" (approved {c['approved']}, review {c['review']})"
            )
        for name in ("strangers", "genuine"):
            c = s[name]
            if c["n"]:
                out.append(f"    {name:22s} {c['n']:3d}: approved {c['approved']}, review {c['review']}")
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="two hosts only, no timing")
    parser.add_argument("--json", type=str, default=None, help="also write every number to this file")
    parser.add_argument("--plot", type=str, default=None, help="also draw the distances to this PNG")
    args = parser.parse_args(argv)
    result = run(quick=args.quick)
    print("\n".join(lines(result)))
    if args.plot:
        from bench.plot import calibration_plot

        calibration_plot(result, args.plot)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(result, out, indent=1)
    return result


if __name__ == "__main__":
    main()
