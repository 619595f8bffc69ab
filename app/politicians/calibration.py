"""A politician's calibration: the tolerance and review band chosen from measured distances.

Pure: distances in (``Measurement``, from ``app.politicians.trial``), a ``Calibration`` out. The
distances are the matcher's (to the politician's nearest reference photo) of three kinds of upload:
- ``deepfakes``: the politician's face swapped and morphed onto the bank's hosts
  (``app.politicians.deepfakes``), each made from one reference photo and measured against the
  *other* reference photos (leave one out: a photo is never measured against itself). With a single
  photo there is no other: its deepfakes are measured against the photo they were made from, which
  makes them look nearer than an uploader's will be; the calibration is then *weak*, and conservative
  where it decides alone: approval ends twice the margin below the nearest stranger. Review (a
  moderator decides) keeps the deepfakes, under the same strangers' share as any calibration.
- ``strangers``: every person of the bank (the strangers and the hosts' own faces), and the campaign's
  other politicians (an upload of minister B claimed as A), against every reference photo, as
  facegate measures an upload.
- ``genuine``: each reference photo against the others (leave one out).

The rule (README, "Choosing the review band"), with ``a`` where approval ends and ``r`` where review
ends (``tolerance = (a + r) / 2``, ``review_band = (r - a) / 2``):
1. Approve only below a margin under the nearest stranger: ``a = nearest - APPROVE_MARGIN``, and never
   beyond the operator's tolerance for genuine photos (``FACEGATE_TOLERANCE``, dlib's 0.6). No
   stranger is ever approved.
2. Review up to where at least ``MIN_KEPT`` of the deepfakes are kept (approved or review), plus
   ``REVIEW_MARGIN`` for deepfakes of photos and people the bank does not hold, as long as no more
   than ``MAX_STRANGERS_REVIEW`` of the strangers fall in review: ``r`` stays ``EDGE_GAP`` short of
   the first stranger beyond ``strangers_in_review(n)`` of them. The measured strangers are a
   sample, and the campaign's uploaders are not the bank's people: that count is the largest k for
   which a true share of ``MAX_STRANGERS_REVIEW`` would show more than k of n in review at least
   half the time (2 of 33, where a plain tenth allows 3), so that the share holds beyond the bank.
3. When both cannot hold, the strangers' share holds and the deepfakes give: the calibration says by
   how much, and what would help.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "APPROVE_MARGIN",
    "EDGE_GAP",
    "MAX_STRANGERS_REVIEW",
    "MIN_KEPT",
    "MIN_PHOTOS",
    "REVIEW_MARGIN",
    "Calibration",
    "Count",
    "Measurement",
    "Outcome",
    "Rule",
    "Sample",
    "calibrate",
    "strangers_in_review",
]

MIN_KEPT = 0.90  # of the generated deepfakes, approved or in review
MAX_STRANGERS_REVIEW = 0.10  # of the strangers, in review (none approved)
STRANGER_ODDS = 0.5  # strangers_in_review: how often the bank may show fewer than a true 10 % share
APPROVE_MARGIN = 0.04  # approval ends this far below the nearest stranger
REVIEW_MARGIN = 0.03  # review reaches this far beyond the deepfake the bar needs kept
EDGE_GAP = 0.005  # review ends this far short of the first stranger it must leave out
MIN_PHOTOS = 3  # fewer reference photos: the calibration is measured on too few faces to trust
STEP = 0.002  # edges are rounded down to this: tolerance and band then have three decimals


class Outcome(StrEnum):
    APPROVED = "approved"
    REVIEW = "review"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Sample:
    """One measured upload claimed as the politician: ``distance`` to the nearest (allowed)
    reference, None when facegate does not find exactly one face in it."""

    name: str
    group: str  # deepfakes: the kind (``swap``, ``morph@0.65``, ``shared``); else the category
    distance: float | None


@dataclass(frozen=True)
class Measurement:
    """What calibration measured for one politician."""

    slug: str
    photos: int  # reference photos
    hosts: int  # people of the bank the deepfakes were pasted onto
    people: int  # distinct strangers: the bank's, and the other politicians
    deepfakes: tuple[Sample, ...]
    strangers: tuple[Sample, ...]
    genuine: tuple[Sample, ...]
    seconds: float = 0.0


@dataclass(frozen=True)
class Rule:
    """Approved below ``approve_below``, review up to ``review_up_to`` (both edges in review),
    rejected above: facegate's ``|d - tolerance| <= review_band`` rule."""

    approve_below: float
    review_up_to: float

    @property
    def tolerance(self) -> float:
        return round((self.approve_below + self.review_up_to) / 2, 6)

    @property
    def band(self) -> float:
        return round((self.review_up_to - self.approve_below) / 2, 6)

    def outcome(self, distance: float | None) -> Outcome:
        """What facegate decides for an upload at ``distance`` (None: not one face, rejected)."""
        if distance is None:
            return Outcome.REJECTED
        if abs(distance - self.tolerance) <= self.band:
            return Outcome.REVIEW
        return Outcome.APPROVED if distance <= self.tolerance else Outcome.REJECTED


@dataclass(frozen=True)
class Count:
    n: int
    approved: int
    review: int

    @property
    def kept(self) -> int:
        return self.approved + self.review

    @property
    def kept_share(self) -> float:
        return self.kept / self.n if self.n else 1.0

    @property
    def review_share(self) -> float:
        return self.review / self.n if self.n else 0.0


@dataclass(frozen=True)
class Calibration:
    """The rule chosen for one politician, what it does on what was measured, and why."""

    measurement: Measurement
    rule: Rule
    max_approve: float
    weak: bool
    # The deepfake the bar needs kept, and the first stranger review must leave out (None: none).
    needed: float | None
    limit: float | None
    notes: tuple[str, ...] = field(default=())

    @property
    def slug(self) -> str:
        return self.measurement.slug

    def count(self, samples: Sequence[Sample]) -> Count:
        outcomes = [self.rule.outcome(s.distance) for s in samples]
        return Count(len(outcomes), outcomes.count(Outcome.APPROVED), outcomes.count(Outcome.REVIEW))

    @property
    def fakes(self) -> tuple[Sample, ...]:
        """The deepfakes that showed facegate one face (a failed generation is no upload to keep)."""
        return tuple(s for s in self.measurement.deepfakes if s.distance is not None)

    @property
    def by_kind(self) -> dict[str, Count]:
        kinds = sorted({s.group for s in self.fakes})
        return {kind: self.count([s for s in self.fakes if s.group == kind]) for kind in kinds}

    @property
    def meets_bar(self) -> bool:
        """At least ``MIN_KEPT`` of the deepfakes kept, no stranger approved, at most
        ``MAX_STRANGERS_REVIEW`` of them in review, every genuine photo approved."""
        fakes, strangers = self.count(self.fakes), self.count(self.measurement.strangers)
        genuine = self.count(self.measurement.genuine)
        return (
            fakes.kept_share >= MIN_KEPT
            and strangers.approved == 0
            and strangers.review_share <= MAX_STRANGERS_REVIEW
            and genuine.approved == genuine.n
        )

    @property
    def approves_a_stranger(self) -> bool:
        return self.count(self.measurement.strangers).approved > 0

    @property
    def nearest_stranger(self) -> Sample | None:
        measured = [s for s in self.measurement.strangers if s.distance is not None]
        return min(measured, key=_distance) if measured else None


def calibrate(
    measurement: Measurement,
    *,
    max_approve: float,
    in_review: Callable[[int], int] | None = None,
) -> Calibration:
    """The rule of the module docstring for ``measurement``; ``max_approve`` is the operator's
    tolerance for genuine photos (``FACEGATE_TOLERANCE``), beyond which nothing is approved.
    ``in_review``: how many of n strangers review may hold (``strangers_in_review``; the bench
    compares others)."""
    strangers = sorted(d for s in measurement.strangers if (d := s.distance) is not None)
    fakes = sorted(d for s in measurement.deepfakes if (d := s.distance) is not None)
    weak = measurement.photos < 2
    margin = APPROVE_MARGIN * (2 if weak else 1)
    approve = _down(max_approve if not strangers else min(max_approve, strangers[0] - margin))
    allowed = (in_review or strangers_in_review)(len(strangers))
    limit = strangers[allowed] if allowed < len(strangers) else None
    ceiling = (limit - EDGE_GAP) if limit is not None else None
    needed = fakes[max(0, math.ceil(MIN_KEPT * len(fakes)) - 1)] if fakes else None
    wanted = approve if needed is None else needed + REVIEW_MARGIN
    review = wanted if ceiling is None else min(wanted, ceiling)
    rule = Rule(approve, max(approve, _down(review)))
    draft = Calibration(measurement, rule, max_approve, weak, needed, limit)
    return Calibration(measurement, rule, max_approve, weak, needed, limit, _notes(draft))


def strangers_in_review(n: int) -> int:
    """How many of ``n`` measured strangers review may hold: the largest k with P[Binomial(n,
    ``MAX_STRANGERS_REVIEW``) <= k] <= ``STRANGER_ODDS``, i.e. were a tenth of all strangers in review,
    a sample of ``n`` would show more than k of them at least half the time: none of fewer than 17,
    1 of 17 to 26, 2 of 27 to 36, 9 of 100 (a plain tenth of 21, 33 and 100: 2, 3 and 10)."""
    p, allowed, below = MAX_STRANGERS_REVIEW, -1, 0.0
    for k in range(n + 1):
        below += math.comb(n, k) * p**k * (1 - p) ** (n - k)
        if below > STRANGER_ODDS:
            break
        allowed = k
    return max(0, allowed)


def _notes(c: Calibration) -> tuple[str, ...]:
    """What the numbers do not say by themselves: a weak calibration, which part of the bar gives
    and by how much, genuine photos that would wait for review, and what would help."""
    m, notes = c.measurement, []
    if c.weak:
        notes.append(
            f"weak: {m.photos} reference photo, so each deepfake was measured against the photo it was"
            " made from, and deepfakes of other photos will be farther; so approval ends twice as far below"
            " the nearest stranger (review, where a moderator decides, takes the difference). Add at least"
            f" {MIN_PHOTOS - m.photos} more photos (frontal, recent, from different days) and calibrate"
            " again."
        )
    elif m.photos < MIN_PHOTOS:
        notes.append(
            f"few photos: {m.photos} reference photos; {MIN_PHOTOS} or more (frontal, recent, from different"
            " days) make the deepfakes' distances, and so the rule, more trustworthy."
        )
    fakes = c.count(c.fakes)
    if fakes.kept_share < MIN_KEPT and c.needed is not None and c.limit is not None:
        strangers = [s.distance for s in m.strangers if s.distance is not None]
        would = sum(c.rule.approve_below <= d <= c.needed for d in strangers)
        notes.append(
            f"the deepfakes give: {fakes.kept} of {fakes.n} kept ({fakes.kept_share:.0%}, not"
            f" {MIN_KEPT:.0%}); keeping {MIN_KEPT:.0%} needs review up to {c.needed:.3f}, where"
            f" {would} of {len(strangers)} strangers ({would / len(strangers):.0%}) would wait for review"
            f" (at most {strangers_in_review(len(strangers))} of {len(strangers)})."
            " The nearest other people are within"
            f" {c.needed - c.rule.review_up_to:.3f} of the deepfakes: more reference photos (frontal,"
            " sharp, from different days) bring the politician's deepfakes nearer."
        )
    genuine = c.count(m.genuine)
    if genuine.approved < genuine.n:
        far = max(_distance(s) for s in m.genuine if c.rule.outcome(s.distance) is not Outcome.APPROVED)
        notes.append(
            f"{genuine.n - genuine.approved} of {genuine.n} reference photos would not be approved against"
            f" the others (up to {far:.3f}, approval ends at {c.rule.approve_below:.3f}): a photo unlike the"
            " rest (old, profile, blurred, or someone else) widens every distance; replace it."
        )
    if c.approves_a_stranger:  # cannot happen by construction; the writer refuses it anyway
        notes.append("a stranger would be approved: this calibration is not written")
    return tuple(notes)


def _down(value: float) -> float:
    """``value`` rounded down to ``STEP``: an edge never moves towards what it must leave out."""
    return round(math.floor(round(value / STEP, 6)) * STEP, 6)


def _distance(sample: Sample) -> float:
    return math.inf if sample.distance is None else sample.distance
