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
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from bench.common import SIZES, jpeg_of
from bench.servers import (
    OPERATOR_KEY,
    WEBHOOK_SECRET,
    NocoDB,
    facegate_env,
    nocodb_settings,
    running_facegate,
    server_pid,
    tree_rss,
)
from scripts.localnocodb import free_port
from tests.images import sample

SAMPLE_SECONDS = 0.05
DRAIN_TIMEOUT_SECONDS = 600.0
MIB = 1024 * 1024
# NocoDB answers 422 to a bulk insert of more than 100 records: 200 rows take two inserts.
BULK_LIMIT = 100
# (stored file name, photo, claimed politician)
PHOTOS: tuple[tuple[str, Callable[[], bytes], str], ...] = (
    ("obama2.jpg", lambda: sample("obama2.jpg"), "obama"),
    ("biden.jpg", lambda: sample("biden.jpg"), "obama"),
    ("obama2_12mp.jpg", lambda: jpeg_of("obama2.jpg", SIZES["phone"]), "obama"),
    ("biden_12mp.jpg", lambda: jpeg_of("biden.jpg", SIZES["phone"]), "biden"),
)


class Sampler(threading.Thread):
    """Samples the RSS of a process tree every ``SAMPLE_SECONDS`` until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, int]] = []
        self.peak: dict[str, int] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            by_process = tree_rss(self.pid)
            total = sum(by_process.values())
            self.samples.append((time.perf_counter(), total))
            if total > sum(self.peak.values()):
                self.peak = by_process
            self._stop_event.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def between(self, start: float, end: float) -> list[int]:
        return [rss for t, rss in self.samples if start <= t <= end]


def _create_rows(api: httpx.Client, table_id: str, count: int) -> list[dict[str, Any]]:
    stored = {}
    for name, photo, _ in PHOTOS:
        response = api.post("/api/v2/storage/upload", files={"files": (name, photo(), "image/jpeg")})
        response.raise_for_status()
        stored[name] = response.json()
    body = [
        {"Politician": PHOTOS[i % len(PHOTOS)][2], "Image": stored[PHOTOS[i % len(PHOTOS)][0]]}
        for i in range(count)
    ]
    ids: set[int] = set()
    for start in range(0, count, BULK_LIMIT):
        response = api.post(f"/api/v2/tables/{table_id}/records", json=body[start : start + BULK_LIMIT])
        if not response.is_success:
            raise RuntimeError(f"bulk insert: {response.status_code} {response.text[:300]}")
        ids.update(r["Id"] for r in response.json())
    rows: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = api.get(f"/api/v2/tables/{table_id}/records", params={"limit": 100, "offset": offset})
        page.raise_for_status()
        items = page.json()["list"]
        rows.extend(r for r in items if r["Id"] in ids)
        offset += len(items)
        if not items or page.json()["pageInfo"].get("isLastPage", True):
            break
    assert len(rows) == count, f"{len(rows)} of {count} rows read back"
    return rows


def _counts(url: str) -> dict[str, int]:
    response = httpx.get(f"{url}/jobs", params={"limit": 1}, headers={"X-API-Key": OPERATOR_KEY}, timeout=30)
    response.raise_for_status()
    counts: dict[str, int] = response.json()["counts"]
    return counts


def run(nocodb: NocoDB, rows: int = 200) -> dict[str, Any]:
    closed_port = free_port()  # NocoDB's webhook goes nowhere: facegate sees only the posted event
    setup = nocodb.bootstrap(f"http://127.0.0.1:{closed_port}", base_title="bench-memory")
    workdir = nocodb.workdir / "facegate-memory"
    workdir.mkdir()
    env = facegate_env(workdir, nocodb_settings(nocodb, setup))
    with running_facegate(workdir, env) as server, nocodb.api(setup) as api:
        sampler = Sampler(server_pid(server))
        sampler.start()
        try:
            created = _create_rows(api, setup.table_id, rows)
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
        finally:
            sampler.stop()
        approved = api.get(
            f"/api/v2/tables/{setup.table_id}/records", params={"where": "(Status,eq,approved)", "limit": 1}
        ).json()["pageInfo"]["totalRows"]
    idle = sampler.between(0, posted)
    busy = sampler.between(posted, drained)
    after = sampler.between(drained, float("inf"))
    return {
        "jobs": rows,
        "photos": [name for name, _, _ in PHOTOS],
        "workers": int(env["FACEGATE_WORKERS"]),
        "ack_s": acknowledged,
        "drain_s": drained - posted,
        "jobs_per_s": rows / (drained - posted),
        "failed": counts["failed"],
        "approved_rows_left": approved,
        "expected_approved": sum(1 for i in range(rows) if PHOTOS[i % len(PHOTOS)][0] != "biden.jpg"),
        "idle_mib": statistics.median(idle) / MIB,
        "steady_mib": statistics.median(busy) / MIB,
        "peak_mib": max(rss for _, rss in sampler.samples) / MIB,
        "after_mib": statistics.median(after) / MIB if after else None,
        "peak_by_process_mib": {name: rss / MIB for name, rss in sampler.peak.items()},
        "samples": len(sampler.samples),
        "timeline": [(round(t - posted, 3), round(rss / MIB, 1)) for t, rss in sampler.samples],
    }
