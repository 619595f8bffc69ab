"""The benchmark's PNG: one panel per measurement that ran."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def plot(r: dict[str, Any], path: Path) -> None:
    figure, axes = plt.subplots(2, 3, figsize=(18, 10))
    ax = axes.flat
    if r.get("pipeline"):
        rows = r["pipeline"]
        labels = [f"{row['photo'].split('.')[0]}\n{row['size']}" for row in rows]
        x = range(len(rows))
        ax[0].bar([i - 0.2 for i in x], [row["plain"]["median"] for row in rows], 0.4, label="plain")
        ax[0].bar([i + 0.2 for i in x], [row["facegate"]["median"] for row in rows], 0.4, label="facegate")
        ax[0].set_xticks(list(x), labels, fontsize=7)
        ax[0].set_yscale("log")
        ax[0].set_ylabel("median s per photo")
        ax[0].set_title("verify pipeline")
        ax[0].legend()
    if r.get("throughput"):
        t = r["throughput"]
        workers = list(t["workers"])
        ax[1].bar(workers, [t["workers"][w]["photos_per_s"] for w in workers])
        ax[1].set_xlabel("workers")
        ax[1].set_ylabel("photos/s")
        ax[1].set_title(f"FacePool throughput (scaling {t['scaling']:.2f}x)")
    if r.get("matcher"):
        m = r["matcher"]
        ax[2].bar([f"{row['faces']}x{row['references']}" for row in m], [row["ratio"] for row in m])
        ax[2].axhline(2, color="red", linestyle="--", label="target 2x")
        ax[2].set_ylabel("matcher / bare matmul")
        ax[2].set_title("matcher")
        ax[2].legend()
    if r.get("webhook"):
        levels = r["webhook"]["levels"]
        names = [f"{lv['variant']}\nc={lv['concurrency']}" for lv in levels]
        x = range(len(levels))
        ax[3].bar([i - 0.2 for i in x], [lv["p50_ms"] for lv in levels], 0.4, label="p50")
        ax[3].bar([i + 0.2 for i in x], [lv["p99_ms"] for lv in levels], 0.4, label="p99")
        ax[3].axhline(20, color="red", linestyle="--", label="target p99 20 ms")
        ax[3].set_xticks(list(x), names, fontsize=8)
        ax[3].set_yscale("log")
        ax[3].set_ylabel("ms")
        ax[3].set_title("webhook acknowledgement")
        ax[3].legend()
    if r.get("end_to_end"):
        samples = r["end_to_end"]["samples"]
        ax[4].plot(range(1, len(samples) + 1), [s["final_s"] for s in samples], "o-")
        ax[4].set_xlabel("upload")
        ax[4].set_ylabel("s to final row state")
        ax[4].set_title("real NocoDB: submission to decision")
    if r.get("memory"):
        timeline = r["memory"]["timeline"]
        ax[5].plot([t for t, _ in timeline], [rss for _, rss in timeline])
        ax[5].axvline(0, color="grey", linestyle=":")
        ax[5].axvline(r["memory"]["drain_s"], color="grey", linestyle=":")
        ax[5].set_xlabel("s since the 200-row webhook")
        ax[5].set_ylabel("RSS MiB (server + children)")
        ax[5].set_title(f"memory, peak {r['memory']['peak_mib']:.0f} MiB")
    for a in ax:
        if not a.has_data():
            a.set_axis_off()
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


# The calibration plot's rows, top to bottom: category (and deepfake kind) of each measured photo.
CALIBRATION_ROWS = (
    ("genuine", "genuine photos"),
    ("swap", "deepfake: swap"),
    ("shared", "deepfake: shared swap"),
    ("morph@0.8", "deepfake: morph 0.8"),
    ("morph@0.65", "deepfake: morph 0.65"),
    ("morph@0.5", "deepfake: morph 0.5"),
    ("host", "hosts (faces pasted onto)"),
    ("other", "other people"),
)


def calibration_plot(result: dict[str, Any], path: Path | str) -> None:
    """The deepfake set's distances (``bench.deepfakes.run``), one panel per politician, with the
    shipped rule drawn: approved left of the band, review inside it, rejected right of it."""
    shipped = result["shipped"]
    slugs = list(shipped)
    figure, axes = plt.subplots(len(slugs), 1, figsize=(11, 3.6 * len(slugs)), squeeze=False)
    for ax, slug in zip(axes[:, 0], slugs, strict=True):
        rule = shipped[slug]
        rows = [r for r in result["rows"] if r["politician"] == slug and r["scores"].get("app") is not None]
        for y, (group, _label) in enumerate(CALIBRATION_ROWS):
            values = [r["scores"]["app"] for r in rows if r["group"] == group]
            # A fixed spread inside each row so overlapping dots stay visible (no randomness).
            offsets = [((i * 7) % 11 - 5) * 0.05 for i in range(len(values))]
            color = (
                "tab:green" if group == "genuine" else "tab:red" if group in ("host", "other") else "tab:blue"
            )
            ax.scatter(values, [y + o for o in offsets], s=18, color=color, alpha=0.75)
            ax.text(1.005, y, f"n={len(values)}", transform=ax.get_yaxis_transform(), va="center", fontsize=8)
        ax.axvspan(rule["approve_below"], rule["review_up_to"], color="orange", alpha=0.18, label="review")
        ax.axvline(rule["tolerance"], color="black", linestyle="--", linewidth=1, label="tolerance")
        ax.axvline(0.6, color="grey", linestyle=":", linewidth=1, label="dlib's 0.6")
        ax.set_yticks(range(len(CALIBRATION_ROWS)), [label for _, label in CALIBRATION_ROWS], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0.15, 1.0)
        ax.set_xlabel(
            f"distance to {slug}'s nearest reference ({result.get('landmarks', 68)}-point alignment)"
        )
        ax.set_title(
            f"{slug}: approved < {rule['approve_below']:.2f}, review {rule['approve_below']:.2f}"
            f"-{rule['review_up_to']:.2f} (t={rule['tolerance']:.3f}, band {rule['band']:.3f}),"
            f" deleted above; deepfakes kept {rule['deepfakes']['all']['kept_share']:.0%},"
            f" strangers in review {rule['strangers']['review']}/{rule['strangers']['n']}",
            fontsize=9,
        )
        ax.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
