"""Does the strangers' share of a calibration hold beyond the people it was measured on?

Each politician (the demo ones, and Cage and Franck from the sample photos, as new ministers) is
measured once on the whole bank (``app.politicians.trial``) and once on the generated set
(``harness.calibration``). Then, ``SPLITS`` times, calibration sees only ``KEPT_PEOPLE`` of the bank's
people (chosen at random, seeded) and the other politicians; its rule is judged on the people it did
not see (the rest of the bank, and the 11 sample people the bank does not hold): the share of them in
review, and the share of the generated set's deepfakes kept. Two ways of counting how many strangers
review may hold are compared: a plain tenth of those measured, and ``strangers_in_review`` (what
calibration uses; README, "Choosing the review band").

    python -m bench.holdout [--splits N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.politicians.bank_people import BANK
from app.politicians.calibration import (
    MAX_STRANGERS_REVIEW,
    Measurement,
    Outcome,
    calibrate,
    strangers_in_review,
)
from app.politicians.profiles import read_politicians
from bench.common import settings as default_settings
from bench.deepfakes import _campaign
from harness.calibration import measure_unseen, start_trial
from harness.deepfakes import NEW_POLITICIANS, POLITICIAN_PHOTOS
from harness.images import SAMPLES

SPLITS = 200
KEPT_PEOPLE = round(0.7 * len(BANK))  # calibration sees these (40 of 58), the rest are judged
SEED = 23
COUNTS: dict[str, Callable[[int], int]] = {
    "a plain tenth": lambda n: math.floor(MAX_STRANGERS_REVIEW * n),
    "strangers_in_review": strangers_in_review,
}


def measure() -> dict[str, tuple[Measurement, Measurement]]:
    """Each politician on the whole bank and on the generated set."""
    settings = default_settings()
    out = {}
    with start_trial(settings) as trial, tempfile.TemporaryDirectory() as tmp:
        bank = trial.read_bank(BANK)
        folder = _campaign(Path(tmp) / "campaign", "cage", NEW_POLITICIANS["cage"])
        _add(folder, "franck", NEW_POLITICIANS["franck"])  # each new minister a stranger to the other
        politicians = read_politicians(folder)
        for politician in politicians:
            others = [p for p in politicians if p.slug != politician.slug]
            sources = POLITICIAN_PHOTOS.get(politician.slug) or NEW_POLITICIANS[politician.slug]
            out[politician.slug] = (
                trial.measure(politician, others, bank),
                measure_unseen(trial, politician, others, sources=sources),
            )
    return out


def _add(folder: Path, slug: str, photos: tuple[str, ...]) -> None:
    (folder / slug).mkdir()
    for photo in photos:
        shutil.copy(SAMPLES / photo, folder / slug / Path(photo).name)
    (folder / slug / "profile.toml").write_text(f'name = "{slug}"\nrole = "Minister"\ncountry = "Utopia"\n')


def holdout(bank: Measurement, generated: Measurement, splits: int = SPLITS) -> dict[str, Any]:
    """Per way of counting: the mean share of unseen people in review, how often it passes 10 %, and
    the mean share of the generated deepfakes kept."""
    rng = random.Random(SEED)  # noqa: S311 - a reproducible split, not a secret
    people = [s for s in bank.strangers if s.group == "stranger"]
    politicians = [s for s in bank.strangers if s.group != "stranger"]
    outside = [s for s in generated.strangers if s.group == "stranger"]
    result: dict[str, Any] = {}
    draws = [rng.sample(range(len(people)), KEPT_PEOPLE) for _ in range(splits)]
    for name, count in COUNTS.items():
        shares, kept = [], []
        for draw in draws:
            seen = [people[i] for i in draw]
            unseen = [p for i, p in enumerate(people) if i not in draw] + outside
            c = calibrate(replace(bank, strangers=(*seen, *politicians)), max_approve=0.6, in_review=count)
            review = [c.rule.outcome(s.distance) is Outcome.REVIEW for s in unseen]
            shares.append(sum(review) / len(review))
            fakes = [s for s in generated.deepfakes if s.distance is not None]
            kept.append(sum(c.rule.outcome(s.distance) is not Outcome.REJECTED for s in fakes) / len(fakes))
        result[name] = {
            "unseen_in_review": sum(shares) / splits,
            "over_a_tenth": sum(s > MAX_STRANGERS_REVIEW for s in shares) / splits,
            "generated_kept": sum(kept) / splits,
        }
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--splits", type=int, default=SPLITS)
    parser.add_argument("--json", type=str, default=None)
    args = parser.parse_args(argv)
    result = {slug: holdout(b, g, args.splits) for slug, (b, g) in measure().items()}
    for slug, rows in result.items():
        for name, r in rows.items():
            print(
                f"{slug:8} {name:20} unseen people in review {r['unseen_in_review']:5.1%}"
                f" (over 10 % in {r['over_a_tenth']:4.0%} of splits); generated deepfakes kept"
                f" {r['generated_kept']:4.0%}"
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(result, out, indent=1)
    return result


if __name__ == "__main__":
    main()
