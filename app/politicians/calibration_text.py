"""A calibration in words: the table ``facegate politicians calibrate`` prints, and the comment block it
writes above ``tolerance`` and ``review_band`` in ``profile.toml``. Both say the same: when, from how
many photos and people, the outcome (deepfakes kept, approved, in review; strangers in review; genuine
photos approved), the margins, and what gives when the bar cannot be met."""

from __future__ import annotations

import textwrap
from datetime import date

from app.politicians.calibration import MIN_KEPT, Calibration, Count, strangers_in_review
from app.politicians.profiles import CALIBRATED_BY

__all__ = ["comment_lines", "table_lines"]

WIDTH = 100


def comment_lines(c: Calibration, when: date) -> list[str]:
    """The ``profile.toml`` comment block (each line starts with ``#``)."""
    m, rule = c.measurement, c.rule
    fakes, strangers, genuine = c.count(c.fakes), c.count(m.strangers), c.count(m.genuine)
    text = [
        f'{CALIBRATED_BY} {when.isoformat()} (README, "Choosing the review band"): {_sources(c)}.',
        f"Approved below {rule.approve_below:.3f}, review from {rule.approve_below:.3f} to"
        f" {rule.review_up_to:.3f}, deleted above.",
        f"Deepfakes kept {_kept(fakes)}: {fakes.approved} approved, {fakes.review} in review. Strangers:"
        f" {strangers.approved} approved, {strangers.review} of {strangers.n} in review"
        f" ({strangers.review_share:.0%}). {_genuine(genuine, c)}",
        _margins(c),
        *c.notes,
    ]
    lines = []
    for paragraph in text:
        if paragraph:
            lines.extend(textwrap.wrap(paragraph, WIDTH - 2, break_on_hyphens=False))
    return [f"# {line}" for line in lines]


def table_lines(c: Calibration) -> list[str]:
    """What the command prints for one politician."""
    m, rule = c.measurement, c.rule
    mark = "meets the bar" if c.meets_bar else "MISSES the bar"
    lines = [
        f"{c.slug}: {_sources(c)} ({m.seconds:.0f} s)",
        f"  approved below {rule.approve_below:.3f}, review {rule.approve_below:.3f} -"
        f" {rule.review_up_to:.3f},"
        f" deleted above (tolerance {rule.tolerance:g}, review_band {rule.band:g}): {mark}",
        f"  {'':24} {'n':>5} {'approved':>9} {'review':>7} {'kept':>6}",
    ]
    rows = [("deepfakes", c.count(c.fakes)), *((f"  {k}", n) for k, n in c.by_kind.items())]
    rows += [("strangers", c.count(m.strangers)), ("genuine (leave one out)", c.count(m.genuine))]
    for name, count in rows:
        kept = f"{count.kept_share:.0%}" if count.n else "-"
        lines.append(f"  {name:24} {count.n:>5} {count.approved:>9} {count.review:>7} {kept:>6}")
    lost = len(m.deepfakes) - len(c.fakes)
    if lost:
        lines.append(f"  ({lost} deepfakes showed facegate no single face: failed swaps, left out)")
    for paragraph in (_margins(c), *c.notes):
        lines.extend(textwrap.wrap(paragraph, WIDTH, initial_indent="  ", subsequent_indent="    "))
    return lines


def _sources(c: Calibration) -> str:
    m = c.measurement
    bank = sum(s.group == "stranger" for s in m.strangers)
    politicians = len(m.strangers) - bank
    return (
        f"{m.photos} reference photo{'s' * (m.photos != 1)}, {len(m.deepfakes)} deepfakes of"
        f" {'it' if m.photos == 1 else 'them'} on {m.hosts} people of the bank (leave one out),"
        f" {len(m.strangers)} strangers ({bank} people of the bank, {politicians} other"
        f" politician{'s' * (politicians != 1)})"
    )


def _kept(count: Count) -> str:
    return f"{count.kept} of {count.n} ({count.kept_share:.0%}, bar {MIN_KEPT:.0%})"


def _genuine(genuine: Count, c: Calibration) -> str:
    if not genuine.n:
        return "Genuine: none to measure (one photo)."
    farthest = max(s.distance for s in c.measurement.genuine if s.distance is not None)
    return (
        f"Genuine (each photo against the others): {genuine.approved} of {genuine.n} approved,"
        f" farthest {farthest:.3f}."
    )


def _margins(c: Calibration) -> str:
    rule, parts = c.rule, []
    nearest = c.nearest_stranger
    if nearest is not None and nearest.distance is not None:
        parts.append(
            f"approval ends {nearest.distance - rule.approve_below:.3f} below the nearest stranger"
            f" ({nearest.name}, {nearest.distance:.3f})"
        )
    if rule.approve_below >= c.max_approve:
        parts.append(f"at the tolerance for genuine photos ({c.max_approve:g})")
    if c.needed is not None:
        parts.append(
            f"review ends {rule.review_up_to - c.needed:+.3f} from the deepfake the {MIN_KEPT:.0%} bar needs"
            f" ({c.needed:.3f})"
        )
    if c.limit is not None:
        n = sum(s.distance is not None for s in c.measurement.strangers)
        parts.append(
            f"{c.limit - rule.review_up_to:.3f} short of the first stranger it leaves out ({c.limit:.3f}):"
            f" review may hold {strangers_in_review(n)} of the {n} strangers, not a tenth: the bank is a"
            " sample, and people outside it may look more like the politician (deepfakes give for it)"
        )
    return "Margins: " + "; ".join(parts) + "." if parts else ""
