"""Calibration measured: how long `facegate politicians calibrate` takes for a politician with three
photos, and what each demo politician's rule (its ``profile.toml``, as the command wrote it) does on
the generated set, which calibration never saw (``harness.deepfakes``: the politicians' sample photos
swapped and morphed onto people the bank does not hold, measured as facegate measures uploads).

The bar (issue 23), per politician: at least 90 % of the deepfakes kept (approved or review), no
stranger approved, at most 10 % of the strangers in review, every genuine sample approved.

With ``--photos`` it measures instead what more reference photos change (README, "Adding a
politician"): Obama from 1, 2 and 3 photos, Franck from 1, 3 and 5 frames, each calibrated on the bank
and judged on deepfakes of a photo calibration never saw and of the reference photos themselves.

    python -m bench.deepfakes [--quick] [--photos] [--json FILE] [--plot FILE.png]
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
from app.politicians.bank_people import BANK
from app.politicians.calibration import MAX_STRANGERS_REVIEW, MIN_KEPT, Calibration, Count, calibrate
from app.politicians.profiles import read_politicians
from bench.common import REFERENCE_DIR
from bench.common import settings as default_settings
from harness.calibration import judge, measure_unseen, rule_of, start_trial
from harness.deepfakes import GENUINE, HOSTS, POLITICIAN_PHOTOS
from harness.images import SAMPLES

# The politician whose calibration is timed: Obama with three photos (a campaign's usual minister).
TIMED_PHOTOS = ("obama.jpg", "obama2.jpg", "obama3.jpg")
LIMIT_SECONDS = 120.0
# ``--photos``: each politician's reference photos, by count, and the photo calibration never sees.
PHOTO_COUNTS: dict[str, dict[int, tuple[str, ...]]] = {
    "obama": {
        1: ("obama.jpg",),
        2: ("obama.jpg", "obama3.jpg"),
        3: ("obama.jpg", "obama2.jpg", "obama3.jpg"),
    },
    "franck": {
        1: ("people/franck_01829.jpg",),
        3: ("people/franck_01829.jpg", "people/franck_02888.jpg", "people/franck_04117.jpg"),
        5: (
            "people/franck_01829.jpg",
            "people/franck_02159.jpg",
            "people/franck_02683.jpg",
            "people/franck_02888.jpg",
            "people/franck_04117.jpg",
        ),
    },
}
NEVER_SEEN = {"obama": "obama4.jpg", "franck": "people/franck_03979.jpg"}


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


def photo_counts() -> list[dict[str, Any]]:
    """What more reference photos change: per politician and count, the rule calibration writes, the
    share it measures itself, and the shares kept on the generated set (``PHOTO_COUNTS``)."""
    settings = default_settings()
    rows = []
    with start_trial(settings) as trial, tempfile.TemporaryDirectory() as tmp:
        bank = trial.read_bank(BANK)
        for slug, counts in PHOTO_COUNTS.items():
            for count, photos in counts.items():
                folder = _campaign(Path(tmp) / f"{slug}-{count}", slug, photos)
                politicians = read_politicians(folder)
                politician = next(p for p in politicians if p.slug == slug)
                others = [p for p in politicians if p.slug != slug]
                calibration = calibrate(
                    trial.measure(politician, others, bank), max_approve=settings.tolerance
                )
                row: dict[str, Any] = {
                    "politician": slug,
                    "photos": count,
                    "approve_below": calibration.rule.approve_below,
                    "review_up_to": calibration.rule.review_up_to,
                    "measured_kept": _count(calibration.count(calibration.fakes)),
                }
                for name, sources in (("never_seen", (NEVER_SEEN[slug],)), ("references", photos)):
                    judged = judge(
                        measure_unseen(trial, politician, others, sources=sources), calibration.rule, 0
                    )
                    row[name] = {
                        "kept": _count(judged.count(judged.fakes)),
                        "strangers": _count(judged.count(judged.measurement.strangers)),
                    }
                rows.append(row)
    return rows


def _campaign(folder: Path, slug: str, photos: tuple[str, ...]) -> Path:
    """The demo politicians, with ``slug`` (one of them, or a new one) holding only ``photos``."""
    shutil.copytree(REFERENCE_DIR, folder)
    mine = folder / slug
    shutil.rmtree(mine, ignore_errors=True)
    mine.mkdir()
    for photo in photos:
        shutil.copy(SAMPLES / photo, mine / Path(photo).name)
    (mine / "profile.toml").write_text(f'name = "{slug}"\nrole = "Minister"\ncountry = "Utopia"\n')
    return folder


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
    parser.add_argument("--photos", action="store_true", help="what 1, 3 and 5 photos change (slow)")
    parser.add_argument("--json", type=str, default=None, help="also write every number to this file")
    parser.add_argument("--plot", type=str, default=None, help="also draw the distances to this PNG")
    args = parser.parse_args(argv)
    if args.photos:
        result: dict[str, Any] = {"photos": photo_counts()}
        print(json.dumps(result["photos"], indent=1))
    else:
        result = run(quick=args.quick)
        print("\n".join(lines(result)))
    if args.plot and not args.photos:
        from bench.plot import calibration_plot

        calibration_plot(result, args.plot)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(result, out, indent=1)
    return result


if __name__ == "__main__":
    main()
