"""Load: many webhook posts, at a given concurrency, against a real facegate and a real NocoDB on loopback.

    uv run python -m scripts.load [--rows 1000] [--concurrency 50] [--instances 2]

The rows are real NocoDB rows, created with bulk inserts through the records API (each photo uploaded
once through the storage API and reused by every row). NocoDB's own webhook points at a port where
nothing listens, so its events are lost, and facegate starts with FACEGATE_SWEEP_INTERVAL_SECONDS=0
before the rows exist: its start-up sweep finds nothing, and every job comes from one of our posts
(GET /jobs shows each job's source, and the figures print them). Then one v3 insert event per row, with
the row as the records API returns it, is posted at the given concurrency.

With ``--instances 2`` (or more), the instances share a PostgreSQL of their own (harness.postgres, a
durable one), each with ``--workers`` face processes, and the posts go to them round-robin.

Prints the acknowledgements and their latency, the time until every row is decided, the throughput,
and facegate's resident memory (server and face processes, sampled every 200 ms; per instance). Exits 1
if a post is not acknowledged, a row is lost, decided wrongly or twice, or the memory grows past the
stated bound.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from harness.images import sample
from harness.instances import running_loops
from harness.loop import OPERATOR_KEY, WEBHOOK_SECRET, Loop, insert_rows, list_rows, running_loop
from harness.nocodb import running_nocodb
from harness.postgres import running_postgres
from harness.stats import MIB, RssSampler, summary
from scripts.realworld import PHOTOS, Upload, all_decisions, evaluate


def create_rows(api: httpx.Client, table_id: str, count: int) -> list[Upload]:
    """``count`` rows cycling through PHOTOS, in bulk inserts; each file is uploaded once."""
    files = {name: sample(name) for name in sorted({p.file for p in PHOTOS})}
    photos = list(itertools.islice(itertools.cycle(PHOTOS), count))
    rows = insert_rows(api, table_id, files, [(p.politician, p.file) for p in photos])
    return [Upload.of(table_id, row, photo) for row, photo in zip(rows, photos, strict=True)]


async def post_webhooks(
    urls: Sequence[str], table_id: str, rows: list[dict[str, Any]], concurrency: int
) -> list[tuple[int, float, int]]:
    """(status or 0 for a transport error, seconds, rows queued) per post, ``concurrency`` at a time;
    row ``i`` is posted to ``urls[i % len(urls)]``."""
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"X-Facegate-Secret": WEBHOOK_SECRET}
    async with httpx.AsyncClient(headers=headers, timeout=60, limits=limits) as http:

        async def post(row: dict[str, Any], url: str) -> tuple[int, float, int]:
            event = {
                "type": "records.after.insert",
                "id": str(uuid.uuid4()),
                "version": "v3",
                "data": {"table_id": table_id, "table_name": "Uploads", "rows": [row]},
            }
            async with gate:
                started = time.perf_counter()
                try:
                    response = await http.post(f"{url}/webhooks/nocodb", json=event)
                except httpx.HTTPError:
                    return 0, time.perf_counter() - started, 0
                elapsed = time.perf_counter() - started
            queued = response.json().get("queued", 0) if response.status_code == 202 else 0
            return response.status_code, elapsed, queued

        return await asyncio.gather(*(post(row, urls[i % len(urls)]) for i, row in enumerate(rows)))


def wait_drained(api: httpx.Client, table_id: str, timeout: float) -> bool:
    """Until no row has a blank Status (deleted rows are gone, approved ones say so)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            response = api.get(f"/api/v2/tables/{table_id}/records/count", params={"where": "(Status,blank)"})
            if response.is_success and response.json().get("count") == 0:
                return True
        time.sleep(0.5)
    return False


def job_sources(facegate_url: str) -> Counter[str]:
    sources: Counter[str] = Counter()
    cursor: int | None = None
    with httpx.Client(base_url=facegate_url, headers={"X-API-Key": OPERATOR_KEY}, timeout=30) as http:
        while True:
            params = {"limit": 500} | ({"cursor": cursor} if cursor else {})
            body = http.get("/jobs", params=params).raise_for_status().json()
            sources.update(f"{j['source']}/{j['state']}" for j in body["items"])
            if (cursor := body["next_cursor"]) is None:
                return sources


@contextlib.contextmanager
def running_instances(args: argparse.Namespace, tmp: Path) -> Iterator[list[Loop]]:
    """NocoDB and the facegate instances, whose NocoDB webhook goes nowhere: every job comes from our
    posts. One instance keeps its SQLite; several share a PostgreSQL."""
    env = {"FACEGATE_WORKERS": str(args.workers)}
    with contextlib.ExitStack() as stack:
        nocodb = stack.enter_context(running_nocodb(tmp / "nocodb"))
        common: dict[str, Any] = {
            "base_title": "load",
            "webhook": False,
            "sweep_seconds": 0,
            "extra_env": env,
        }
        if args.instances == 1:
            yield [stack.enter_context(running_loop(nocodb, tmp / "facegate", **common))]
            return
        url = stack.enter_context(running_postgres()).create_database("facegate")
        yield stack.enter_context(
            running_loops(nocodb, tmp / "facegate", database_url=url, count=args.instances, **common)
        )


def run(args: argparse.Namespace, tmp: Path) -> list[str]:
    """The load run; returns the failures."""
    failures: list[str] = []
    with running_instances(args, tmp) as loops, loops[0].api(timeout=60) as api:
        setup, servers = loops[0].setup, [loop.facegate for loop in loops]
        time.sleep(2)  # the start-up sweep, over an empty table
        started = time.monotonic()
        uploads = create_rows(api, setup.table_id, args.rows)
        print(f"created {len(uploads)} rows in {time.monotonic() - started:.1f} s")
        rows = list_rows(api, setup.table_id, fields="")
        bodies = [rows[u.row_id] for u in uploads]
        with contextlib.ExitStack() as sampling:
            samplers = [sampling.enter_context(RssSampler(server.pid)) for server in servers]
            time.sleep(1)
            started = time.monotonic()
            urls = [server.url for server in servers]
            results = asyncio.run(post_webhooks(urls, setup.table_id, bodies, args.concurrency))
            posted = time.monotonic() - started
            drained = wait_drained(api, setup.table_id, args.timeout)
            drain = time.monotonic() - started
            time.sleep(1)
        # The instances share their database: any of them lists every decision and job.
        tally = evaluate(uploads, list_rows(api, setup.table_id), all_decisions(servers[0].url))
        sources = job_sources(servers[0].url)
        decided_by = [s.metric("facegate_verdicts_total", source="moderation") for s in servers]
    statuses = Counter(status for status, _, _ in results)
    latencies = [elapsed * 1000 for _, elapsed, _ in results]
    acked = statuses[202]
    store = "SQLite" if args.instances == 1 else "one PostgreSQL"
    print(
        f"\nrows {args.rows}, concurrency {args.concurrency}, {args.instances} instance(s) on {store},"
        f" {args.workers} face process(es) each"
    )
    print(
        f"acknowledged {acked}/{len(results)} (statuses {dict(statuses)}), queued"
        f" {sum(q for _, _, q in results)}, all posted in {posted:.1f} s"
    )
    ack = summary(latencies)
    print(f"ack latency p50 {ack['median']:.0f} ms  p99 {ack['p99']:.0f} ms  max {ack['max']:.0f} ms")
    for line in tally.lines():
        print(line)
    print(
        f"time to drain {drain:.1f} s{'' if drained else ' (NOT drained: timed out)'}; throughput"
        f" {args.rows / drain:.2f} rows/s"
    )
    print(f"jobs by source/state {dict(sources)}")
    if args.instances > 1:
        print(f"decided per instance {[round(n) for n in decided_by]}")
    for number, rss in enumerate(samplers, start=1):
        totals = rss.totals
        start, peak, end = totals[0] / MIB, max(totals) / MIB, totals[-1] / MIB
        who = f"instance {number} " if args.instances > 1 else ""
        print(
            f"facegate {who}RSS (server + face processes, {len(totals)} samples): start {start:.0f} MiB,"
            f" peak {peak:.0f} MiB ({peak - start:+.0f}), end {end:.0f} MiB ({end - start:+.0f});"
            f" bound: peak and end within +{args.rss_bound_mib} MiB of the start"
        )
        if max(peak, end) - start > args.rss_bound_mib:
            failures.append(f"{who}memory grew past the bound of {args.rss_bound_mib} MiB")
    if acked != args.rows:
        failures.append(f"{args.rows - acked} posts not acknowledged with 202")
    if not drained:
        failures.append(f"not drained within {args.timeout:.0f} s")
    if sources.total() != args.rows or any(not s.startswith("webhook/") for s in sources):
        failures.append(f"expected {args.rows} jobs, all from webhooks: {dict(sources)}")
    return failures + tally.problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.load", description=__doc__)
    parser.add_argument("--rows", type=int, default=1000, help="rows, one webhook post each")
    parser.add_argument("--concurrency", type=int, default=50, help="posts in flight at once")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed to drain")
    parser.add_argument("--rss-bound-mib", type=int, default=100, help="allowed RSS growth per instance")
    parser.add_argument(
        "--instances", type=int, default=1, help="facegate processes (2 or more share a PostgreSQL)"
    )
    parser.add_argument(
        "--workers", type=int, help="face processes per instance (default 2 in all: 2, or 1 each)"
    )
    args = parser.parse_args(argv)
    if args.instances < 1:
        parser.error("--instances must be 1 or more")
    args.workers = args.workers or max(1, 2 // args.instances)
    with tempfile.TemporaryDirectory(prefix="facegate-load-") as tmp:
        failures = run(args, Path(tmp))
    for failure in failures:
        print(f"FAILURE {failure}")
    print("load: ok" if not failures else f"load: FAILED ({len(failures)})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
