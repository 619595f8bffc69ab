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


def calibration_plot(result: dict[str, Any], path: Path | str) -> None:
    """The generated set's distances (``bench.deepfakes.run``), one panel per demo politician, with its
    shipped rule: the app's own calibration plot (``app.politicians.calibration_plot``)."""
    from app.politicians.calibration import Measurement, Rule, Sample
    from app.politicians.calibration_plot import draw
    from harness.calibration import judge

    judged = []
    for slug, s in result["shipped"].items():
        samples = {k: tuple(Sample(**row) for row in rows) for k, rows in s["samples"].items()}
        measured = Measurement(
            slug=slug,
            photos=0,
            hosts=0,
            people=len(samples["strangers"]),
            deepfakes=samples["deepfakes"],
            strangers=samples["strangers"],
            genuine=samples["genuine"],
        )
        judged.append(judge(measured, Rule(s["approve_below"], s["review_up_to"]), s["approve_below"]))
    draw(judged, Path(path))
