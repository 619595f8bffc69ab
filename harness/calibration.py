"""What a calibration does on faces it has never seen: the generated set (``harness.deepfakes``), measured
as facegate measures uploads and judged by a politician's rule. Shared by the calibration tests and
the bench.

Unlike calibration (``app.politicians.trial``), nothing is left out here: an upload is measured against
every reference photo of the politician it claims, as the service does. Its deepfakes are made from
the politician's sample photos (the references, which uploaders paste too, and others) onto the
sample people the bank does not hold; its strangers are all those people, and the other politicians'
photos; its genuine photos are the politician's sample photos that are not references.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from app.config import Settings
from app.faces.engine import EngineConfig
from app.faces.intake import Limits
from app.faces.matcher import Matrix
from app.politicians.analysis import Analysed
from app.politicians.calibration import Calibration, Measurement, Rule, Sample
from app.politicians.deepfakes import Face
from app.politicians.profiles import Politician
from app.politicians.references import EncodingCache
from app.politicians.trial import Trial
from harness.deepfakes import HOSTS, OUTSIDE
from harness.images import SAMPLES, sample

__all__ = ["judge", "measure_unseen", "rule_of", "start_trial"]


def start_trial(settings: Settings, workers: int | None = None) -> Trial:
    """The calibration's worker processes, with ``settings``' engine, bank and reference cache."""
    config = EngineConfig(
        settings.detect_max_side, settings.encode_max_side, settings.min_detection_score, settings.landmarks
    )
    return Trial(
        config=config,
        limits=Limits(settings.max_upload_bytes, settings.max_image_pixels, settings.encode_max_side),
        workers=workers or settings.workers,
        reference_cache=EncodingCache(settings.reference_cache_dir, config.cache_key_fields()),
        bank_dir=settings.bank_folder,
    )


def measure_unseen(
    trial: Trial,
    politician: Politician,
    others: Sequence[Politician],
    *,
    sources: Sequence[str],
    genuine: Sequence[str] = (),
    hosts: Sequence[str] = HOSTS,
) -> Measurement:
    """``politician`` on the generated set: deepfakes of the sample photos ``sources`` onto ``hosts``,
    every sample person and the ``others``' photos as strangers, the ``genuine`` sample photos."""
    refs = trial.references(politician.photos)
    encodings = np.stack([ref.encoding for ref in refs])
    faces = {r.photo.name: r.face for r in trial.references([SAMPLES / s for s in sources]) if r.face}
    people = {p.name: p for p in OUTSIDE}
    seen = trial.people([(sample(p.photo), p.box) for p in OUTSIDE])
    by_name = dict(zip(people, seen, strict=True))
    pairs = [(s, h) for s in faces for h in hosts]  # a source without one face makes no deepfake
    made = trial.deepfakes([(faces[s], _face(by_name[h])) for s, h in pairs])
    deepfakes = [
        Sample(f"{label}:{s}->{h}", label, _nearest(encoding, encodings))
        for (s, h), fakes in zip(pairs, made, strict=True)
        for label, encoding in fakes
    ]
    strangers = [
        Sample(name, "stranger", _nearest(found.encoding, encodings)) for name, found in by_name.items()
    ]
    for other in others:
        found = trial.analyse([photo.read_bytes() for photo in other.photos])
        distances = [d for f in found if (d := _nearest(f.encoding, encodings)) is not None]
        strangers.append(Sample(other.slug, "politician", min(distances, default=None)))
    genuine_found = trial.analyse([sample(g) for g in genuine])
    return Measurement(
        slug=politician.slug,
        photos=len(refs),
        hosts=len(hosts),
        people=len(people) + len(others),
        deepfakes=tuple(deepfakes),
        strangers=tuple(strangers),
        genuine=tuple(
            Sample(g, "genuine", _nearest(found.encoding, encodings))
            for g, found in zip(genuine, genuine_found, strict=True)
        ),
    )


def judge(measurement: Measurement, rule: Rule, max_approve: float) -> Calibration:
    """``rule``'s outcomes on ``measurement`` (``Calibration.count``, ``meets_bar``)."""
    return Calibration(measurement, rule, max_approve, weak=False, needed=None, limit=None)


def rule_of(politician: Politician, settings: Settings) -> Rule:
    """The rule ``politician``'s profile (else ``settings``) gives facegate."""
    tolerance = (
        politician.profile.tolerance if politician.profile.tolerance is not None else settings.tolerance
    )
    band = (
        politician.profile.review_band if politician.profile.review_band is not None else settings.review_band
    )
    return Rule(round(tolerance - band, 6), round(tolerance + band, 6))


def _face(found: Analysed) -> Face:
    if found.face is None:
        raise ValueError("a host of the generated set shows no face with landmarks")
    return found.face


def _nearest(encoding: Matrix | None, references: Matrix) -> float | None:
    if encoding is None:
        return None
    return float(np.linalg.norm(references - encoding, axis=1).min())
