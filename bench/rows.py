"""Rows per second end to end, beside the face pool's photos per second on the same photo mix; and the
end-to-end rate with one decode per picture (now) against two (before the face worker made the
carousel renditions), in one run.

facegate runs in this process as ``app.assembly`` builds it: webhook, queue and runner, moderation, the
face pool (``workers`` processes), decision log and carousel on SQLite. NocoDB is a function (an
``httpx.MockTransport`` serving the rows, their files and the writes), so its own CPU is left out: the
gap between the pool's photos/s and the rows/s is facegate's own work around the faces (downloads,
store writes, the renditions kept, JSON). The photos are ``bench.throughput``'s mix, each claimed as
the politician it shows, so every row is approved. A round queues ``rows`` new rows with one insert
webhook and ends when no job is left; the configurations:
- pool: the same photos straight to the runtime's pool, all at once, ``analyse(renditions=True)``: the
  face work moderation asks for (faces, and the renditions of a one-face picture);
- one decode: the app as it is;
- two decodes: the same app, plus what moderation did before, simulated by the bench: one more decode
  and render of each approved picture in the main process, in a thread (``Renditions.make``, as the old
  ``decide`` called it), made when the fake NocoDB receives the approval.
Rounds interleave (pool, one, two, two, one, pool per pass), so slow drift hits all alike; a rate is
that of the median round. The CPU time of this process (facegate's main process) and of the face
workers is measured per round too: other work on a shared machine does not count in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
import psutil

from app.assembly import Runtime, assemble
from app.config import Settings
from app.erasure.provenance import FORM_FOLDER
from app.faces.renditions import Renditions
from bench.common import limits
from bench.throughput import mix
from harness.images import ROOT

BASE = "http://nocodb.bench"
TABLE_ID = "bench_rows"
CREATED_AT = "2026-01-01 00:00:00+00:00"
CREATED_EPOCH = 1_767_225_600  # CREATED_AT
DRAIN_TIMEOUT_SECONDS = 600.0
POLL_SECONDS = 0.02
CONFIGS = ("pool", "one decode", "two decodes")


def _claim(photo: str) -> str:
    return "biden" if photo.startswith("biden") else "obama"


@dataclass
class FakeNocoDB:
    """NocoDB's records API and file server, as a function: what one job's path calls, no more."""

    renditions: Renditions
    # NocoDB's uploads folder: each picture is written there as the public form writes it, just
    # before its row, so that facegate proves it the row's own upload (``app.erasure.provenance``).
    uploads: Path
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    # "two decodes": each approval also decodes and renders the picture here, in the main process.
    second_decode: bool = False
    second_decodes: int = 0

    def add(self, row_id: int, politician: str, data: bytes) -> dict[str, Any]:
        location = f"2026/01/01/{FORM_FOLDER}/photo_{row_id:05d}.jpg"
        stored = self.uploads / location
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_bytes(data)
        os.utime(stored, (CREATED_EPOCH, CREATED_EPOCH))
        path = f"download/{location}"
        self.files[path] = data
        image = {"id": f"att{row_id}", "path": path, "title": f"{row_id}.jpg", "mimetype": "image/jpeg"}
        row = {"Id": row_id, "CreatedAt": CREATED_AT, "Politician": politician}
        self.rows[row_id] = row | {"Image": [image], "Status": None}
        return self.rows[row_id]

    async def handler(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        records = f"/api/v2/tables/{TABLE_ID}/records"
        if path.startswith("/download/"):
            return httpx.Response(200, content=self.files[path.lstrip("/")])
        if method == "POST" and path == "/api/v2/storage/upload":  # facegate's storage probe
            location = f"{time.strftime('%Y/%m/%d')}/operator/facegate-storage-probe_AbCdE.png"
            (self.uploads / location).parent.mkdir(parents=True, exist_ok=True)
            (self.uploads / location).write_bytes(b"png")
            item = {"path": f"download/{location}"}
            return httpx.Response(200, json=[item], headers={"date": formatdate(usegmt=True)})
        if method == "GET" and path == records:  # the start-up sweep, and "is it gone?": nothing to find
            return httpx.Response(200, json={"list": [], "pageInfo": {"isLastPage": True}})
        if method == "GET" and path.startswith(records + "/"):
            row = self.rows.get(int(path.rsplit("/", 1)[1]))
            return httpx.Response(200, json=row) if row else httpx.Response(404, json={"msg": "not found"})
        if method == "PATCH" and path == records:
            body = json.loads(request.content)
            row = self.rows[body["Id"]]
            row.update(body)
            if self.second_decode and body.get("Status") == "approved":
                await asyncio.to_thread(self.renditions.make, self.files[row["Image"][0]["path"]])
                self.second_decodes += 1
            return httpx.Response(200, json={"Id": body["Id"]})
        if method == "DELETE" and path == records:
            (item,) = json.loads(request.content)
            self.rows.pop(item["Id"], None)
            return httpx.Response(200, json=[item])
        return httpx.Response(400, json={"msg": f"unexpected {method} {path}"})


@dataclass
class _Bench:
    runtime: Runtime
    nocodb: FakeNocoDB
    photos: list[tuple[str, str, bytes]]
    next_id: int = 1
    queued: int = 0

    async def pool_round(self) -> float:
        pool = self.runtime.faces.pool
        started = time.perf_counter()
        await asyncio.gather(*(pool.analyse(data, renditions=True) for _, _, data in self.photos))
        return time.perf_counter() - started

    async def rows_round(self, *, second_decode: bool) -> float:
        rows = []
        for name, _, data in self.photos:
            rows.append(self.nocodb.add(self.next_id, _claim(name), data))
            self.next_id += 1
        self.nocodb.second_decode = second_decode
        event = {
            "type": "records.after.insert",
            "version": "v3",
            "data": {"table_id": TABLE_ID, "table_name": "Uploads", "rows": rows},
        }
        started = time.perf_counter()
        ack = await self.runtime.webhooks.receive(json.dumps(event).encode())
        assert ack.queued == len(rows), ack
        self.queued += len(rows)
        await self._drained(started)
        return time.perf_counter() - started

    async def _drained(self, started: float) -> None:
        queue = self.runtime.queue
        while True:
            counts = await asyncio.to_thread(queue.counts)
            if counts["failed"] or counts.get("held"):
                raise RuntimeError(f"jobs failed or held: {counts}")
            if counts["done"] >= self.queued:
                return
            if time.perf_counter() - started > DRAIN_TIMEOUT_SECONDS:
                raise RuntimeError(f"not drained after {DRAIN_TIMEOUT_SECONDS} s: {counts}")
            await asyncio.sleep(POLL_SECONDS)


def _settings(folder: Path, workers: int) -> Settings:
    shutil.copytree(ROOT / "reference_faces", folder / "reference_faces")
    return Settings(
        _env_file=None,
        reference_dir=folder / "reference_faces",
        data_dir=folder / "data",
        workers=workers,
        nocodb_url=BASE,
        nocodb_api_token=secrets.token_hex(8),  # the fake NocoDB takes any
        nocodb_table_id=TABLE_ID,
        nocodb_uploads_dir=folder / "uploads",
        sweep_interval_seconds=0,
    )


async def _measure(photos: list[tuple[str, str, bytes]], workers: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="facegate-bench-rows-") as tmp:
        nocodb = FakeNocoDB(Renditions(limits()), uploads=Path(tmp) / "uploads")
        settings = _settings(Path(tmp), workers)
        async with assemble(settings, nocodb_transport=httpx.MockTransport(nocodb.handler)) as runtime:
            bench = _Bench(runtime, nocodb, photos)
            # Untimed: every worker's first photo, every store's first write.
            await bench.rows_round(second_decode=False)
            run: dict[str, Callable[[], Awaitable[float]]] = {
                "pool": bench.pool_round,
                "one decode": lambda: bench.rows_round(second_decode=False),
                "two decodes": lambda: bench.rows_round(second_decode=True),
            }
            measured: dict[str, dict[str, list[float]]] = {
                config: {"seconds": [], "main_cpu_s": [], "workers_cpu_s": []} for config in CONFIGS
            }
            for _ in range(rounds):
                for config in (*CONFIGS, *CONFIGS[::-1]):
                    main, workers_cpu = _cpu_seconds()
                    measured[config]["seconds"].append(await run[config]())
                    main_after, workers_after = _cpu_seconds()
                    measured[config]["main_cpu_s"].append(main_after - main)
                    measured[config]["workers_cpu_s"].append(workers_after - workers_cpu)
            approved = await asyncio.to_thread(runtime.carousel.store.version)
    return {"configs": measured, "approved": approved.live, "second_decodes": nocodb.second_decodes}


def _cpu_seconds() -> tuple[float, float]:
    """CPU seconds used so far by this process (event loop and threads: facegate's main process, and
    the fake NocoDB) and by its children (the face workers): unlike wall time, what other work on a
    shared machine takes does not count."""
    this = psutil.Process()
    own = this.cpu_times()
    children = 0.0
    for child in this.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = child.cpu_times()
            children += times.user + times.system
    return own.user + own.system, children


def run(rows: int = 16, rounds: int = 1, workers: int | None = None) -> dict[str, Any]:
    """``rows`` photos per round of ``bench.throughput``'s mix; ``rounds`` passes of pool, one decode,
    two decodes, two decodes, one decode, pool; ``workers``: one per core (at least 2), as there."""
    workers = workers or max(2, os.cpu_count() or 1)
    photos = mix(rows)
    measured = asyncio.run(_measure(photos, workers, rounds))
    sizes = [size for _, size, _ in photos]
    configs = measured["configs"]
    # The median round: a neighbour's burst on this shared machine is one round.
    rate = {config: rows / statistics.median(c["seconds"]) for config, c in configs.items()}
    return {
        "rows": rows,
        "rounds": 2 * rounds,
        "workers": workers,
        "mix": ", ".join(f"{sizes.count(size)} {size}" for size in dict.fromkeys(sizes)),
        "photos": sorted({name for name, _, _ in photos}),
        "seconds": {config: c["seconds"] for config, c in configs.items()},
        # Per row (or photo, for the pool), over all rounds.
        "main_cpu_ms": {config: _per_row_ms(c["main_cpu_s"], rows) for config, c in configs.items()},
        "workers_cpu_ms": {config: _per_row_ms(c["workers_cpu_s"], rows) for config, c in configs.items()},
        "photos_per_s": rate["pool"],
        "rows_per_s": {"one decode": rate["one decode"], "two decodes": rate["two decodes"]},
        "of_pool": {config: rate[config] / rate["pool"] for config in CONFIGS[1:]},
        "one_vs_two": rate["one decode"] / rate["two decodes"],
        # Every row of every round (the untimed first one too) is approved.
        "approved": measured["approved"],
        "expected_approved": rows * (1 + 4 * rounds),
        "second_decodes": measured["second_decodes"],
    }


def _per_row_ms(seconds: list[float], rows: int) -> float:
    return sum(seconds) / (rows * len(seconds)) * 1e3


if __name__ == "__main__":
    print(run())
