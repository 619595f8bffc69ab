"""The calibration plot (``facegate politicians calibrate --plot FILE``): what was measured, and the rule.

One panel per politician: a row of dots per kind of deepfake, the strangers and the genuine photos, at
their distance to the politician; the approved zone, the review band and the rejected zone behind
them. Needs matplotlib (``pip install 'facegate[plot]'``; the dev environment has it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from app.errors import CommandError
from app.politicians.calibration import Calibration, Sample

__all__ = ["draw"]

X_RANGE = (0.15, 1.05)


def _rows(c: Calibration) -> list[tuple[str, list[Sample], str]]:
    """``(label, samples, colour)`` top to bottom."""
    m = c.measurement
    kinds = [
        (f"deepfake: {kind}", [s for s in c.fakes if s.group == kind], "tab:blue")
        for kind in ("swap", "shared", "morph@0.8", "morph@0.65", "morph@0.5")
        if any(s.group == kind for s in c.fakes)
    ]
    return [
        ("genuine (leave one out)", list(m.genuine), "tab:green"),
        *kinds,
        ("strangers: the bank", [s for s in m.strangers if s.group == "stranger"], "tab:red"),
        ("strangers: other politicians", [s for s in m.strangers if s.group == "politician"], "tab:purple"),
    ]


def draw(calibrations: Sequence[Calibration], path: Path) -> None:
    """Write the plot of ``calibrations`` to ``path`` (PNG)."""
    try:
        import matplotlib
    except ImportError as exc:
        raise CommandError("--plot needs matplotlib: pip install 'facegate[plot]'") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(
        len(calibrations), 1, figsize=(11, 3.8 * max(1, len(calibrations))), squeeze=False
    )
    for ax, c in zip(axes[:, 0], calibrations, strict=True):
        rows = _rows(c)
        for y, (_label, samples, colour) in enumerate(rows):
            values = [s.distance for s in samples if s.distance is not None]
            # A fixed spread inside each row, so that overlapping dots stay visible (no randomness).
            offsets = [((i * 7) % 11 - 5) * 0.05 for i in range(len(values))]
            ax.scatter(values, [y + o for o in offsets], s=14, color=colour, alpha=0.7)
            ax.text(1.005, y, f"n={len(values)}", transform=ax.get_yaxis_transform(), va="center", fontsize=8)
        rule = c.rule
        ax.axvspan(X_RANGE[0], rule.approve_below, color="tab:green", alpha=0.08, label="approved")
        ax.axvspan(rule.approve_below, rule.review_up_to, color="orange", alpha=0.2, label="review")
        ax.axvspan(rule.review_up_to, X_RANGE[1], color="tab:red", alpha=0.06, label="deleted")
        if c.needed is not None:
            ax.axvline(c.needed, color="tab:blue", linestyle=":", linewidth=1, label="90 % of deepfakes")
        ax.set_yticks(range(len(rows)), [label for label, _, _ in rows], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(*X_RANGE)
        ax.set_xlabel(f"distance to {c.slug}'s nearest reference photo (deepfakes: leave one out)")
        fakes, strangers = c.count(c.fakes), c.count(c.measurement.strangers)
        ax.set_title(
            f"{c.slug} ({c.measurement.photos} photos): approved < {rule.approve_below:.3f}, review up to"
            f" {rule.review_up_to:.3f}; deepfakes kept {fakes.kept}/{fakes.n} ({fakes.kept_share:.0%}),"
            f" strangers approved {strangers.approved}, in review {strangers.review}/{strangers.n}",
            fontsize=9,
        )
        ax.legend(loc="lower right", fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
