"""On a real NocoDB: from a form submission to the row's final state (approved, or deleted).

NocoDB and facegate run as real servers; uploads go through NocoDB's public shared-form endpoint as a
browser sends them, one at a time; the row is polled every 50 ms until ``Status == approved`` or it
is gone. The time includes NocoDB's webhook, facegate's queue, the download, the face work and the
action in NocoDB.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import SIZES, jpeg_of
from harness.images import sample
from harness.loop import running_loop
from harness.nocodb import LocalNocoDB
from harness.stats import percentile

POLL_SECONDS = 0.05
DECIDE_TIMEOUT_SECONDS = 120.0
# (label, politician claimed, sample photo, made-up size or None for the sample itself, final state)
UPLOADS: tuple[tuple[str, str, str, str | None, str], ...] = (
    ("obama2.jpg as obama", "obama", "obama2.jpg", None, "approved"),
    ("biden.jpg as obama", "obama", "biden.jpg", None, "deleted"),
    ("obama2 12MP as obama", "obama", "obama2.jpg", "phone", "approved"),
    ("biden 12MP as biden", "biden", "biden.jpg", "phone", "approved"),
)


def _photo(name: str, size: str | None) -> bytes:
    return sample(name) if size is None else jpeg_of(name, SIZES[size])


def run(nocodb: LocalNocoDB, uploads: int = 20) -> dict[str, Any]:
    samples: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="facegate-bench-e2e-") as tmp,
        running_loop(nocodb, Path(tmp), base_title="bench-end-to-end", sweep_seconds=0) as loop,
        loop.api(timeout=60) as api,
    ):
        for i in range(uploads):
            label, claim, name, size, expected = UPLOADS[i % len(UPLOADS)]
            data = _photo(name, size)
            started = time.perf_counter()
            row_id = loop.submit(claim, data, f"{name}.jpg", timeout=60)["Id"]
            submitted = time.perf_counter() - started
            state = None
            deadline = time.monotonic() + DECIDE_TIMEOUT_SECONDS
            while state is None and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
                state = loop.state(row_id, api)
            if state is None:
                raise RuntimeError(
                    f"row {row_id} undecided after {DECIDE_TIMEOUT_SECONDS} s:\n{loop.facegate.log_tail()}"
                )
            samples.append(
                {
                    "upload": label,
                    "bytes": len(data),
                    "submit_s": submitted,
                    "final_s": time.perf_counter() - started,
                    "state": state,
                    "expected": expected,
                }
            )
    finals = [s["final_s"] for s in samples]
    by_kind = {
        label: statistics.median(s["final_s"] for s in samples if s["upload"] == label)
        for label, *_ in UPLOADS[: min(uploads, len(UPLOADS))]
    }
    return {
        "uploads": len(samples),
        "p50_s": statistics.median(finals),
        "p95_s": percentile(finals, 95),
        "max_s": max(finals),
        "submit_p50_s": statistics.median(s["submit_s"] for s in samples),
        "median_by_upload": by_kind,
        "wrong_final_state": [s for s in samples if s["state"] != s["expected"]],
        "samples": samples,
    }
