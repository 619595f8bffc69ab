"""facegate's memory with 200 jobs queued at once, on a real NocoDB.

200 rows are created in NocoDB by bulk inserts through the records API (at most 100 rows per call,
as NocoDB requires; a mix of sample photos and 12 MP phone photos), then one insert webhook carrying
all 200 rows is posted to facegate. NocoDB's own webhook for that table points at a closed port, so
the posted event is the only one facegate sees.
The resident memory (RSS) of the uvicorn process and all its children (face workers, multiprocessing's
resource tracker) is sampled every 50 ms until every job is done.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.common import SIZES, jpeg_of
from harness.images import sample
from harness.loop import OPERATOR_KEY, WEBHOOK_SECRET, insert_rows, running_loop
from harness.nocodb import LocalNocoDB
from harness.stats import MIB, RssSampler

SAMPLE_SECONDS = 0.05
DRAIN_TIMEOUT_SECONDS = 600.0
# (stored file name, photo, claimed politician)
PHOTOS: tuple[tuple[str, Callable[[], bytes], str], ...] = (
    ("obama2.jpg", lambda: sample("obama2.jpg"), "obama"),
    ("biden.jpg", lambda: sample("biden.jpg"), "obama"),
    ("obama2_12mp.jpg", lambda: jpeg_of("obama2.jpg", SIZES["phone"]), "obama"),
    ("biden_12mp.jpg", lambda: jpeg_of("biden.jpg", SIZES["phone"]), "biden"),
)


def _counts(url: str) -> dict[str, int]:
    response = httpx.get(f"{url}/jobs", params={"limit": 1}, headers={"X-API-Key": OPERATOR_KEY}, timeout=30)
    response.raise_for_status()
    counts: dict[str, int] = response.json()["counts"]
    return counts


def run(nocodb: LocalNocoDB, rows: int = 200) -> dict[str, Any]:
    files = {name: photo() for name, photo, _ in PHOTOS}
    uploads = [(PHOTOS[i % len(PHOTOS)][2], PHOTOS[i % len(PHOTOS)][0]) for i in range(rows)]
    with (
        tempfile.TemporaryDirectory(prefix="facegate-bench-memory-") as tmp,
        # NocoDB's webhook goes nowhere: facegate sees only the posted event.
        running_loop(nocodb, Path(tmp), base_title="bench-memory", webhook=False, sweep_seconds=0) as loop,
        loop.api(timeout=60) as api,
    ):
        setup, server = loop.setup, loop.facegate
        with RssSampler(server.pid, SAMPLE_SECONDS) as sampler:
            created = insert_rows(api, setup.table_id, files, uploads)
            assert len(created) == rows, f"{len(created)} of {rows} rows read back"
            time.sleep(1.0)  # idle samples
            event = {
                "type": "records.after.insert",
                "version": "v3",
                "data": {"table_id": setup.table_id, "table_name": "Uploads", "rows": created},
            }
            posted = time.perf_counter()
            response = httpx.post(
                f"{server.url}/webhooks/nocodb",
                json=event,
                headers={"X-Facegate-Secret": WEBHOOK_SECRET},
                timeout=60,
            )
            acknowledged = time.perf_counter() - posted
            assert response.status_code == 202 and response.json()["queued"] == rows, response.text
            counts = _counts(server.url)
            while counts["done"] + counts["failed"] < rows:
                if time.perf_counter() - posted > DRAIN_TIMEOUT_SECONDS:
                    raise RuntimeError(f"not drained after {DRAIN_TIMEOUT_SECONDS} s: {counts}")
                time.sleep(0.25)
                counts = _counts(server.url)
            drained = time.perf_counter()
            time.sleep(1.0)  # samples after the drain
        approved = api.get(
            f"/api/v2/tables/{setup.table_id}/records", params={"where": "(Status,eq,approved)", "limit": 1}
        ).json()["pageInfo"]["totalRows"]
        workers = int(server.env["FACEGATE_WORKERS"])
    idle = sampler.between(0, posted)
    busy = sampler.between(posted, drained)
    after = sampler.between(drained, float("inf"))
    return {
        "jobs": rows,
        "photos": [name for name, _, _ in PHOTOS],
        "workers": workers,
        "ack_s": acknowledged,
        "drain_s": drained - posted,
        "jobs_per_s": rows / (drained - posted),
        "failed": counts["failed"],
        "approved_rows_left": approved,
        "expected_approved": sum(1 for i in range(rows) if PHOTOS[i % len(PHOTOS)][0] != "biden.jpg"),
        "idle_mib": statistics.median(idle) / MIB,
        "steady_mib": statistics.median(busy) / MIB,
        "peak_mib": max(sampler.totals) / MIB,
        "after_mib": statistics.median(after) / MIB if after else None,
        "peak_by_process_mib": {name: rss / MIB for name, rss in sampler.peak.items()},
        "samples": len(sampler.samples),
        "timeline": [(round(t - posted, 3), round(rss / MIB, 1)) for t, rss in sampler.samples],
    }
