"""The deepfake set (``harness/deepfakes.py``) against facegate's face core: distances, and what each
tolerance and review band would decide (issue 15, with issue 12's band).

Every photo is decoded and searched for faces exactly as the service does (``decode`` with the
service's limits, ``FaceEngine`` with its settings, reference encodings of ``reference_faces/``).
Its one face is then also encoded other ways ("variants"), each against references encoded the same
way, to see whether more of what a face gives separates deepfakes from other people better.

Categories, each photo claimed as a politician:
- ``genuine``: the politicians' sample photos that are not reference photos, and each reference
  photo against the politician's other references (left out of its own);
- ``deepfake``: every generated deepfake, claimed as the politician pasted in;
- ``host``: the photos faces were pasted onto, claimed as every politician;
- ``other``: other people's photos (never hosts), claimed as every politician.

The rule for a distance ``d``, tolerance ``t`` and band ``b``: approved if ``d < t - b``, review if
``|d - t| <= b``, rejected above. A photo without exactly one face is rejected whatever its distance.
"shipped" is that rule with each politician's ``profile.toml`` (``tolerance``, ``review_band``) and
facegate's defaults, on the ``app`` distance: what facegate decides; ``tests/faces/test_calibration.py``
holds it to issue 15's bar.

    python -m bench.deepfakes [--quick] [--jitters] [--json FILE] [--plot FILE.png]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from app.faces.engine import FaceEngine, Landmarks, landmark_model_location
from app.faces.intake import DecodedImage, decode
from app.faces.matcher import Matrix
from app.faces.verdict import Box
from app.politicians.profiles import read_politicians
from bench.accuracy import TRUTH
from bench.common import REFERENCE_DIR, engine_config, limits, reference_photos
from bench.common import settings as default_settings
from harness.deepfakes import PEOPLE, POLITICIAN_PHOTOS, deepfakes, person_jpeg
from harness.images import sample
from harness.stats import percentile

TOLERANCES = tuple(round(0.50 + 0.01 * i, 2) for i in range(26))  # 0.50 .. 0.75
BANDS = tuple(round(0.01 * i, 2) for i in range(11))  # 0 .. 0.10
# Issue 15's bar: deepfakes kept (approved or review), hosts and others in review, genuine approved.
MIN_KEPT = 0.90
MAX_STRANGERS_REVIEW = 0.125
CATEGORIES = ("genuine", "deepfake", "host", "other")


@dataclass(frozen=True)
class Variant:
    """One way to encode a found face: dlib's alignment landmarks (None: the engine's), jitters and
    chip padding."""

    name: str
    description: str
    landmarks: Landmarks | None = None
    jitters: int = 1
    padding: float = 0.25  # dlib's default: the chip reaches a quarter face beyond the landmarks


APP = Variant("app", "facegate as it runs: FACEGATE_LANDMARKS (68-point) alignment, 1 jitter, padding 0.25")
LANDMARKS5 = Variant("landmarks5", "aligned on the 5-point model (facegate before issue 15)", landmarks=5)
VARIANTS = (
    APP,
    LANDMARKS5,
    Variant("tight", "a tighter aligned crop (padding 0.1): less hair, jaw and forehead", padding=0.1),
)
# Ten descriptors per face (~3 s each on a busy 2-CPU machine): only with ``--jitters``.
JITTERED = Variant("jitter10", "10 jittered copies averaged", jitters=10)
# Scores: a variant's distance to the nearest reference, or to the mean reference encoding ("~mean").
MEAN_SUFFIX = "~mean"


@dataclass
class Measured:
    """One photo claimed as one politician; ``scores`` by score name (None without exactly one face)."""

    category: str
    group: str  # genuine/host/other: the category; deepfake: kind and ratio, e.g. ``morph@0.65``
    photo: str
    politician: str
    faces: int
    source_is_reference: bool = False
    scores: dict[str, float | None] = field(default_factory=dict)
    other_politician: float | None = None  # app distance to the nearest other politician


class Encoders:
    """facegate's engine, and the same faces encoded each variant's way."""

    def __init__(self, engine: FaceEngine | None = None) -> None:
        import dlib

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import face_recognition_models as models

        self.engine = engine or FaceEngine(engine_config())
        self._predictors = {n: dlib.shape_predictor(landmark_model_location(n)) for n in (5, 68)}
        self._encoder = dlib.face_recognition_model_v1(models.face_recognition_model_location())

    def encode(self, data: bytes, variants: Sequence[Variant] = VARIANTS) -> tuple[int, dict[str, Matrix]]:
        """The number of faces facegate counts, and each variant's ``(128,)`` encoding of the one face."""
        import dlib

        decoded = decode(data, limits())
        found = self.engine.find_faces(decoded)
        if len(found.boxes) != 1:
            return len(found.boxes), {}
        out: dict[str, Matrix] = {}
        work = decoded.pixels(self.engine.config.encode_max_side)
        rect = _work_rect(decoded, work.shape[1], found.boxes[0])
        for variant in variants:
            if variant.name == "app":
                out[variant.name] = found.encodings[0]
                continue
            predictor = self._predictors[variant.landmarks or self.engine.config.landmarks]
            shape = predictor(work, dlib.rectangle(*rect))
            descriptor = self._encoder.compute_face_descriptor(work, shape, variant.jitters, variant.padding)
            out[variant.name] = np.asarray(descriptor, dtype=np.float64)
        return len(found.boxes), out


def _work_rect(decoded: DecodedImage, work_width: int, box: Box) -> tuple[int, int, int, int]:
    """The face box in the pixels encoded (as displayed -> the ``encode_max_side`` copy)."""
    scale = work_width / decoded.width
    return (
        round(box.left * scale),
        round(box.top * scale),
        round(box.right * scale),
        round(box.bottom * scale),
    )


@dataclass
class References:
    """Each variant's encodings of each reference photo: ``{variant: {slug: {photo: (128,)}}}``."""

    by_variant: dict[str, dict[str, dict[str, Matrix]]]

    @classmethod
    def load(cls, encoders: Encoders, variants: Sequence[Variant] = VARIANTS) -> References:
        by_variant: dict[str, dict[str, dict[str, Matrix]]] = {v.name: {} for v in variants}
        for slug, photos in reference_photos().items():
            for photo in photos:
                faces, encodings = encoders.encode(photo.read_bytes(), variants)
                if faces != 1:
                    raise RuntimeError(f"{photo}: {faces} faces; a reference photo shows one")
                for name, encoding in encodings.items():
                    by_variant[name].setdefault(slug, {})[photo.name] = encoding
        return cls(by_variant)

    def scores(
        self, encodings: dict[str, Matrix], slug: str, leave_out: str | None = None
    ) -> dict[str, float]:
        """Distances to ``slug``'s nearest reference and to its mean reference, for each variant."""
        out: dict[str, float] = {}
        for name, encoding in encodings.items():
            refs = [e for photo, e in self.by_variant[name][slug].items() if photo != leave_out]
            if not refs:
                continue
            stacked = np.stack(refs)
            out[name] = float(np.linalg.norm(stacked - encoding, axis=1).min())
            out[name + MEAN_SUFFIX] = float(np.linalg.norm(stacked.mean(axis=0) - encoding))
        return out

    def nearest_other(self, encoding: Matrix, slug: str) -> float | None:
        others = [e for s, photos in self.by_variant["app"].items() if s != slug for e in photos.values()]
        return float(np.linalg.norm(np.stack(others) - encoding, axis=1).min()) if others else None


def measure(
    encoders: Encoders, references: References, variants: Sequence[Variant] = VARIANTS, quick: bool = False
) -> list[Measured]:
    """Every photo of every category, claimed as the politicians the category says."""
    slugs = sorted(POLITICIAN_PHOTOS)
    reference_names = {p.name: slug for slug, ps in reference_photos().items() for p in ps}
    rows: list[Measured] = []

    def add(category: str, group: str, photo: str, data: bytes, claims: Iterable[str], **extra: Any) -> None:
        faces, encodings = encoders.encode(data, variants)
        for slug in claims:
            row = Measured(category, group, photo, slug, faces, **extra)
            if encodings:
                leave_out = photo if category == "genuine" else None
                row.scores = dict(references.scores(encodings, slug, leave_out))
                row.other_politician = references.nearest_other(encodings["app"], slug)
            rows.append(row)

    for photo, slug in TRUTH.items():
        if slug is None:
            continue
        if photo in reference_names and len(references.by_variant["app"][slug]) < 2:
            continue  # a politician's only reference photo has nothing to be measured against
        add("genuine", "genuine", photo, sample(photo), [slug], source_is_reference=photo in reference_names)
    hosts = [p.name for p in PEOPLE if p.host]
    for fake in deepfakes(hosts=hosts[:2] if quick else None):
        group = f"{fake.kind}@{fake.ratio:g}" if fake.kind == "morph" else str(fake.kind)
        is_reference = fake.source in reference_names
        add("deepfake", group, fake.name, fake.data, [fake.politician], source_is_reference=is_reference)
    for person in PEOPLE:
        category = "host" if person.host else "other"
        add(category, category, person.name, person_jpeg(person.name), slugs)
    return rows


def outcome(distance: float | None, tolerance: float, band: float) -> str:
    """Issue 12's rule on one distance (None: not exactly one face, rejected)."""
    if distance is None:
        return "rejected"
    if abs(distance - tolerance) <= band:
        return "review"
    return "approved" if distance < tolerance else "rejected"


def distribution(values: Sequence[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "min": None, "p10": None, "median": None, "p90": None, "max": None}
    return {
        "n": len(values),
        "min": min(values),
        "p10": percentile(values, 10),
        "median": percentile(values, 50),
        "p90": percentile(values, 90),
        "max": max(values),
    }


def _groups(rows: Sequence[Measured]) -> dict[str, list[Measured]]:
    """The table's rows: each category, deepfakes also by kind, by politician and by source."""
    out: dict[str, list[Measured]] = {c: [r for r in rows if r.category == c] for c in CATEGORIES}
    fakes = out["deepfake"]
    for group in sorted({r.group for r in fakes}):
        out[f"deepfake {group}"] = [r for r in fakes if r.group == group]
    for slug in sorted({r.politician for r in fakes}):
        out[f"deepfake of {slug}"] = [r for r in fakes if r.politician == slug]
    out["deepfake, source not a reference"] = [r for r in fakes if not r.source_is_reference]
    out["deepfake, source a reference"] = [r for r in fakes if r.source_is_reference]
    out["host + other"] = out["host"] + out["other"]
    return out


def distributions(rows: Sequence[Measured], score: str) -> dict[str, dict[str, float | int | None]]:
    return {
        name: distribution([v for r in members if (v := r.scores.get(score)) is not None])
        for name, members in _groups(rows).items()
    }


def rates(rows: Sequence[Measured], score: str, tolerance: float, band: float) -> dict[str, float]:
    """The outcome rates issue 15 asks about, for one score, tolerance and band."""

    def share(category: Sequence[str], *outcomes: str) -> float:
        members = [r for r in rows if r.category in category]
        hits = sum(outcome(r.scores.get(score), tolerance, band) in outcomes for r in members)
        # No genuine photo (biden has only his reference): nothing to keep approved, vacuously all.
        return hits / len(members) if members else float(category == ["genuine"])

    return {
        "deepfakes_kept": share(["deepfake"], "approved", "review"),
        "deepfakes_review": share(["deepfake"], "review"),
        "strangers_approved": share(["host", "other"], "approved"),
        "strangers_review": share(["host", "other"], "review"),
        "genuine_approved": share(["genuine"], "approved"),
    }


def meets_issue(r: dict[str, float]) -> bool:
    return (
        r["deepfakes_kept"] >= MIN_KEPT
        and r["strangers_approved"] == 0
        and r["strangers_review"] <= MAX_STRANGERS_REVIEW
        and r["genuine_approved"] == 1
    )


def grid(rows: Sequence[Measured], score: str) -> list[dict[str, float]]:
    return [{"tolerance": t, "band": b, **rates(rows, score, t, b)} for t in TOLERANCES for b in BANDS]


def best_rule(rows: Sequence[Measured], score: str) -> dict[str, Any] | None:
    """The grid's rule that keeps the most deepfakes with no stranger approved, at most one in eight
    in review and every genuine photo approved; ties go to fewer in review (strangers, then deepfakes)."""
    allowed = [
        g
        for g in grid(rows, score)
        if g["strangers_approved"] == 0
        and g["strangers_review"] <= MAX_STRANGERS_REVIEW
        and g["genuine_approved"] == 1
    ]
    if not allowed:
        return None
    best = max(
        allowed,
        key=lambda g: (g["deepfakes_kept"], -g["strangers_review"], -g["deepfakes_review"], -g["band"]),
    )
    return {**best, "meets_issue": meets_issue(best)}


@dataclass(frozen=True)
class Rule:
    """One politician's tolerance and review band: approved below ``t - b``, review up to ``t + b``."""

    tolerance: float
    band: float

    @property
    def approve_below(self) -> float:
        return round(self.tolerance - self.band, 6)

    @property
    def review_up_to(self) -> float:
        return round(self.tolerance + self.band, 6)


def shipped_rules(reference_dir: Any = REFERENCE_DIR) -> dict[str, Rule]:
    """Each politician's rule as facegate runs it: ``profile.toml``, else the settings' defaults."""
    s = default_settings()
    return {
        p.slug: Rule(
            p.profile.tolerance if p.profile.tolerance is not None else s.tolerance,
            p.profile.review_band if p.profile.review_band is not None else s.review_band,
        )
        for p in read_politicians(reference_dir)
    }


def _counts(members: Sequence[Measured], rule: Rule) -> dict[str, Any]:
    outcomes = [outcome(r.scores.get(APP.name), rule.tolerance, rule.band) for r in members]
    n = len(outcomes)
    approved, review = outcomes.count("approved"), outcomes.count("review")
    return {
        "n": n,
        "approved": approved,
        "review": review,
        "kept_share": (approved + review) / n if n else None,
        "review_share": review / n if n else None,
        "approved_share": approved / n if n else None,
    }


def shipped(rows: Sequence[Measured], rules: dict[str, Rule]) -> dict[str, Any]:
    """Per politician: the shipped rule's outcomes per deepfake kind, on strangers and genuine photos,
    the margins between the rule's edges and the nearest photos, and whether issue 15's bar is met."""
    out: dict[str, Any] = {}
    for slug in sorted({r.politician for r in rows}):
        rule = rules[slug]
        mine = [r for r in rows if r.politician == slug]
        fakes = [r for r in mine if r.category == "deepfake"]
        strangers = [r for r in mine if r.category in ("host", "other")]
        genuine = [r for r in mine if r.category == "genuine"]
        kinds = {"all": fakes} | {
            g: [r for r in fakes if r.group == g] for g in sorted({r.group for r in fakes})
        }

        def app(members: Sequence[Measured]) -> list[float]:
            return sorted(v for r in members if (v := r.scores.get(APP.name)) is not None)

        stranger_d, genuine_d, fake_d = app(strangers), app(genuine), app(fakes)
        result: dict[str, Any] = {
            "tolerance": rule.tolerance,
            "band": rule.band,
            "approve_below": rule.approve_below,
            "review_up_to": rule.review_up_to,
            "deepfakes": {kind: _counts(members, rule) for kind, members in kinds.items()},
            "strangers": _counts(strangers, rule),
            "hosts": _counts([r for r in strangers if r.category == "host"], rule),
            "others": _counts([r for r in strangers if r.category == "other"], rule),
            "genuine": _counts(genuine, rule),
            "distances": {
                "genuine_max": genuine_d[-1] if genuine_d else None,
                "stranger_nearest": stranger_d[:3],
                # The deepfake that the 90 % bar needs kept: the rule's review edge must reach it.
                "deepfake_at_bar": fake_d[max(0, -(-len(fake_d) * 9 // 10) - 1)] if fake_d else None,
            },
        }
        strangers_counts, genuine_counts = result["strangers"], result["genuine"]
        result["meets_issue"] = bool(
            (result["deepfakes"]["all"]["kept_share"] or 0) >= MIN_KEPT
            and strangers_counts["approved"] == 0
            and (strangers_counts["review_share"] or 0) <= MAX_STRANGERS_REVIEW
            and genuine_counts["approved"] == genuine_counts["n"]
        )
        out[slug] = result
    return out


def run(
    *,
    quick: bool = False,
    jitters: bool = False,
    variants: Sequence[Variant] = VARIANTS,
    encoders: Encoders | None = None,
) -> dict[str, Any]:
    """Generate, measure and judge the set; every number of the report, as JSON-ready data."""
    started = time.perf_counter()
    variants = (*variants, JITTERED) if jitters else tuple(variants)
    encoders = encoders or Encoders()
    references = References.load(encoders, variants)
    rows = measure(encoders, references, variants, quick=quick)
    scores = [name for v in variants for name in (v.name, v.name + MEAN_SUFFIX)]
    politicians = sorted({r.politician for r in rows})
    settings = default_settings()
    return {
        "quick": quick,
        "landmarks": encoders.engine.config.landmarks,
        "variants": {v.name: v.description for v in variants},
        "counts": {name: len({r.photo for r in members}) for name, members in _groups(rows).items()},
        "faces_not_one": [asdict(r) for r in rows if r.faces != 1],
        "distributions": {score: distributions(rows, score) for score in scores},
        "as_defaults": rates(rows, APP.name, settings.tolerance, settings.review_band),
        "shipped": shipped(rows, shipped_rules()),
        "app_grid": grid(rows, APP.name),
        "best": {score: best_rule(rows, score) for score in scores},
        "best_per_politician": {
            score: {p: best_rule([r for r in rows if r.politician == p], score) for p in politicians}
            for score in scores
        },
        "rows": [asdict(r) for r in rows],
        "seconds": time.perf_counter() - started,
    }


def _f(value: float | int | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def report(result: dict[str, Any]) -> str:
    """The tables, as text."""
    lines = [f"deepfake set ({'quick' if result['quick'] else 'full'}): {result['counts']}"]
    if result["faces_not_one"]:
        lines.append(f"photos without exactly one face: {[r['photo'] for r in result['faces_not_one']]}")
    for score, table in result["distributions"].items():
        lines.append(f"\ndistance '{score}' ({'n, min, p10, median, p90, max'})")
        for name, d in table.items():
            stats = "  ".join(_f(d[k]) for k in ("min", "p10", "median", "p90", "max"))
            lines.append(f"  {name:34s} {d['n']:4d}  {stats}")
    columns = (
        "deepfakes_kept",
        "deepfakes_review",
        "strangers_approved",
        "strangers_review",
        "genuine_approved",
    )
    lines.append("\noutcomes with facegate's distance (app): tolerance band  " + "  ".join(columns))
    for g in result["app_grid"]:
        if g["band"] in (0.0, 0.05, 0.1) and round(g["tolerance"] * 100) % 5 == 0:
            rates_text = "  ".join(f"{g[c]:>{len(c)}.0%}" for c in columns)
            lines.append(f"  {g['tolerance']:.2f} {g['band']:.2f}  {rates_text}")
    defaults = result["as_defaults"]
    lines.append(
        "\nwith the default tolerance and band for every politician (app): "
        + json.dumps({k: round(v, 3) for k, v in defaults.items()})
    )
    lines.extend(["", *shipped_lines(result["shipped"])])
    lines.append("\nbest rule per score (global | per politician): kept, review among deepfakes / strangers")
    for score, best in result["best"].items():
        parts = [_rule(best)] + [f"{p} {_rule(b)}" for p, b in result["best_per_politician"][score].items()]
        lines.append(f"  {score:18s} " + " | ".join(parts))
    lines.append(f"\n{result['seconds']:.0f} s")
    return "\n".join(lines)


def shipped_lines(shipped_result: dict[str, Any]) -> list[str]:
    """The shipped rule's outcomes, per politician and kind of deepfake (``make bench`` prints them)."""
    lines = ["shipped rule (profile.toml, else the defaults), app distance: kept = approved + review"]
    for slug, s in shipped_result.items():
        mark = "MEETS" if s["meets_issue"] else "MISSES"
        d = s["distances"]
        nearest = ", ".join(f"{v:.3f}" for v in d["stranger_nearest"])
        lines.append(
            f"  {slug}: t={s['tolerance']:.3f} b={s['band']:.3f} (approved < {s['approve_below']:.3f},"
            f" review up to {s['review_up_to']:.3f})  {mark} issue 15's bar;"
            f" genuine max {_f(d['genuine_max'])}, 90 % deepfake {_f(d['deepfake_at_bar'])},"
            f" nearest strangers {nearest}"
        )
        for kind, c in s["deepfakes"].items():
            lines.append(
                f"    deepfakes {kind:12s} {c['n']:3d}: kept {c['kept_share']:.0%}"
                f" (approved {c['approved']}, review {c['review']})"
            )
        for name in ("strangers", "hosts", "others", "genuine"):
            c = s[name]
            if c["n"]:
                lines.append(
                    f"    {name:22s} {c['n']:3d}: approved {c['approved']}, review {c['review']}"
                    f" ({c['review_share']:.0%})"
                )
    return lines


def _rule(best: dict[str, Any] | None) -> str:
    if best is None:
        return "none"
    mark = "ok" if best["meets_issue"] else "--"
    return (
        f"{mark} t={best['tolerance']:.2f} b={best['band']:.2f} kept {best['deepfakes_kept']:.0%}"
        f" rev {best['deepfakes_review']:.0%}/{best['strangers_review']:.0%}"
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="two hosts only")
    parser.add_argument("--jitters", action="store_true", help="also the 10-jitter variant (slow)")
    parser.add_argument("--json", type=str, default=None, help="also write every number to this file")
    parser.add_argument("--plot", type=str, default=None, help="also draw the distances to this PNG")
    args = parser.parse_args(argv)
    result = run(quick=args.quick, jitters=args.jitters)
    print(report(result))
    if args.plot:
        from bench.plot import calibration_plot

        calibration_plot(result, args.plot)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(result, out, indent=1)
    return result


if __name__ == "__main__":
    main()
