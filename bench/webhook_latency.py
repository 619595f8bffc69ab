"""Webhook acknowledgement latency over real HTTP on loopback, at concurrency 1 and 50.

facegate runs as a real uvicorn server without NocoDB settings, so every webhook is validated and its
job committed to SQLite (WAL) before the 202, and nothing is decided. Each request is a variant of
``tests/fixtures/nocodb_webhook_insert.json`` with its own Id and CreatedAt, so every one queues a
new job. The client (httpx.AsyncClient) runs on the same 2 cores as the server: its own CPU time is
part of the latency measured.
"""

from __future__ import annotations

import asyncio
import copy
import json
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

from app.db import Database
from app.moderation.queue import JobQueue
from app.moderation.webhook import EventEnvelope, RowsEvent, jobs_from_event
from bench.common import median_seconds
from harness.facegate import WEBHOOK_SECRET, facegate_env, running_facegate
from harness.images import ROOT
from harness.loop import FIELDS
from harness.stats import summary

FIXTURE = ROOT / "tests/fixtures/nocodb_webhook_insert.json"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def bodies(start: int, count: int) -> list[bytes]:
    """``count`` insert events, each with one new row (Id and CreatedAt unique), serialised up front."""
    template = json.loads(FIXTURE.read_text())
    out = []
    for row_id in range(start, start + count):
        event = copy.deepcopy(template)
        row = event["data"]["rows"][0]
        row["Id"] = row_id
        row["CreatedAt"] = (EPOCH + timedelta(seconds=row_id)).strftime("%Y-%m-%d %H:%M:%S+00:00")
        out.append(json.dumps(event).encode())
    return out


async def _load(url: str, payloads: list[bytes], concurrency: int, budget: float) -> dict[str, Any]:
    """``concurrency`` closed-loop senders, each with its own keep-alive connection.

    One client per sender: a single AsyncClient with 50 pooled connections spends more CPU in its
    pool than the server spends answering (measured: 11 ms of client CPU per request), which would
    be measured as server latency.
    """
    headers = {"X-Facegate-Secret": WEBHOOK_SECRET, "Content-Type": "application/json"}
    latencies: list[float] = []
    failures: list[str] = []
    pending = iter(payloads)
    deadline = time.perf_counter() + budget

    async def sender() -> None:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
            await client.get("/healthz")  # open the connection before the clock starts
            await ready.wait()
            for body in pending:
                if time.perf_counter() > deadline:
                    return
                started = time.perf_counter()
                response = await client.post("/webhooks/nocodb", content=body)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 202 or response.json().get("queued") != 1:
                    failures.append(f"{response.status_code} {response.text[:200]}")

    ready = asyncio.Event()
    tasks = [asyncio.create_task(sender()) for _ in range(concurrency)]
    await asyncio.sleep(0.5)
    started = time.perf_counter()
    ready.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    stats = summary(latencies)
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "failures": len(failures),
        "first_failure": failures[0] if failures else None,
        "requests_per_s": len(latencies) / elapsed,
        "p50_ms": stats["median"] * 1e3,
        "p95_ms": stats["p95"] * 1e3,
        "p99_ms": stats["p99"] * 1e3,
        "max_ms": stats["max"] * 1e3,
    }


# Server variants measured side by side: as shipped, and without uvicorn's access log (a lever).
# The server runs as shipped (no access log, like the Dockerfile and `make run`).
VARIANTS: dict[str, dict[str, str]] = {"as shipped": {}}


def _server_cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def run(
    requests: int = 1000,
    concurrencies: tuple[int, ...] = (1, 50),
    budget: float = 60.0,
    variants: tuple[str, ...] = tuple(VARIANTS),
    workers: int = 2,
) -> dict[str, Any]:
    results = []
    next_id = 1
    for variant in variants:
        with tempfile.TemporaryDirectory(prefix="facegate-bench-webhook-") as tmp:
            workdir = Path(tmp)
            env = facegate_env(workdir, workers=workers, sweep_seconds=0) | VARIANTS[variant]
            with running_facegate(workdir, env) as server:
                pid = server.pid
                warm = bodies(next_id, 20)
                next_id += len(warm)
                asyncio.run(_load(server.url, warm, 1, budget))
                for concurrency in concurrencies:
                    payloads = bodies(next_id, requests)
                    next_id += requests
                    cpu = _server_cpu(pid)
                    level = asyncio.run(_load(server.url, payloads, concurrency, budget))
                    cpu = _server_cpu(pid) - cpu
                    level["server_cpu_ms_per_request"] = cpu / max(1, level["requests"]) * 1e3
                    results.append({"variant": variant, **level})
    return {
        "requests_per_level": requests,
        "budget_s": budget,
        "face_workers": workers,
        "levels": results,
        "steps": steps(runs=requests),
    }


def steps(runs: int = 300, budget: float = 0.5) -> dict[str, float]:
    """In-process cost of the handler's own steps for one event, in ms (the rest is HTTP and framework)."""
    body = bodies(1, 1)[0]
    with tempfile.TemporaryDirectory(prefix="facegate-bench-store-") as tmp:
        db = Database(Path(tmp) / "facegate.db")
        queue = JobQueue(db)
        counter = iter(range(10**9))

        def parse() -> RowsEvent:
            EventEnvelope.model_validate_json(body)
            return RowsEvent.model_validate_json(body)

        event = parse()

        def enqueue() -> int:
            job = jobs_from_event(event, table_id=None, fields=FIELDS)[0][0]
            job = replace(job, row_key=f"{job.row_key}-{next(counter)}")
            return queue.enqueue([job], source="webhook")

        async def enqueue_in_thread() -> None:
            for _ in range(runs):
                await asyncio.to_thread(enqueue)

        out = {
            "parse_ms": median_seconds(parse, budget=budget) * 1e3,
            "jobs_from_event_ms": median_seconds(
                lambda: jobs_from_event(event, table_id=None, fields=FIELDS), budget=budget
            )
            * 1e3,
            "enqueue_commit_ms": median_seconds(enqueue, budget=budget) * 1e3,
        }
        started = time.perf_counter()
        asyncio.run(enqueue_in_thread())
        out["enqueue_via_to_thread_ms"] = (time.perf_counter() - started) / runs * 1e3
        db.close()
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
