"""Several facegate instances on one PostgreSQL database, and what PostgreSQL costs a job against SQLite.

``throughput``: rows decided per second, end to end (a real NocoDB, real facegate processes, a durable
PostgreSQL server with a database per configuration): one instance with 2 face workers, two instances
with 1 worker each (the same workers: what coordinating through the database costs) and two with 2
each, beside one instance with 2 workers on SQLite. Every configuration runs at once, idle but for
its own rounds, so rounds interleave (A B C D D C B A, twice) and load drifts of the shared machine
hit all alike; the CPU other work took during each round is reported with it. A round bulk-inserts
its rows into the configuration's own NocoDB table (whose webhook goes nowhere), then posts each
instance an insert event with its share of the rows, as a load balancer would spread webhooks; it
ends when the shared queue holds no job. An untimed round first gives every worker a photo.

``store_latency``: the store calls that deciding one job makes (webhook, runner, moderation, carousel,
eraser; see ``_job``), in this process, on SQLite as shipped (WAL, synchronous=NORMAL: no fsync per
commit) and on a durable PostgreSQL over loopback TCP (fsync and synchronous_commit on), the two
backends' jobs interleaved.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from app.carousel.store import ApprovalStore, NewApproval
from app.db import Database
from app.erasure.store import PurgeLog, PurgeState, PurgeTrigger
from app.faces.renditions import Rendition, Renditions
from app.moderation.decisions import DecisionLog
from app.moderation.queue import JobQueue, NewJob
from app.outcomes import Action, Decision, Reason
from bench.common import limits
from bench.memory import PHOTOS
from harness.facegate import FacegateServer
from harness.images import sample
from harness.instances import running_facegates
from harness.loop import OPERATOR_KEY, WEBHOOK_SECRET, Loop, bootstrap_base, insert_rows, loop_env
from harness.net import free_port
from harness.nocodb import LocalNocoDB
from harness.postgres import running_postgres
from harness.stats import percentile

# (label, instances, face workers per instance, database)
CONFIGS: tuple[tuple[str, int, int, str], ...] = (
    ("1 x 2", 1, 2, "postgresql"),
    ("2 x 1", 2, 1, "postgresql"),
    ("2 x 2", 2, 2, "postgresql"),
    ("1 x 2 SQLite", 1, 2, "sqlite"),
)
POLL_SECONDS = 0.1
DRAIN_TIMEOUT_SECONDS = 600.0
TABLE_ID = "bench"
JOB_METRIC = "facegate_job_seconds"
# app.moderation.runner: while its slots are full and jobs are due, the runner reads next_due_in again
# after at most this long (its floor on the wait); about 7 reads per 1 s job with 2 slots, measured.
FULL_SLOTS_POLL_SECONDS = 0.05


# ----------------------------------------------------------------------------------------- throughput


@dataclass
class _Setup:
    label: str
    instances: int
    workers: int
    database: str
    loop: Loop
    servers: list[FacegateServer]
    rows: int = 0  # rows inserted so far
    expected_approved: int = 0
    seconds: list[float] = field(default_factory=list)
    others_cores: list[float] = field(default_factory=list)  # the machine's other load, by round


def _counts(server: FacegateServer) -> dict[str, int]:
    response = httpx.get(
        f"{server.url}/jobs", params={"limit": 1}, headers={"X-API-Key": OPERATOR_KEY}, timeout=30
    )
    response.raise_for_status()
    counts: dict[str, int] = response.json()["counts"]
    return counts


def _cpu(roots: Sequence[int]) -> tuple[float, float]:
    """CPU seconds the machine has been busy (or stolen by its host), and those of ``roots`` and their
    descendants: their difference over a round is what other work took from the benchmark."""
    times = psutil.cpu_times()
    busy = times.user + times.nice + times.system + times.irq + times.softirq + times.steal
    ours = 0.0
    for root in roots:
        with contextlib.suppress(psutil.NoSuchProcess):
            parent = psutil.Process(root)
            for process in (parent, *parent.children(recursive=True)):
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    cpu = process.cpu_times()
                    ours += cpu.user + cpu.system
    return busy, ours


def _round(
    setup: _Setup, api: httpx.Client, files: dict[str, bytes], rows: int, roots: Sequence[int]
) -> tuple[float, float]:
    """Insert ``rows`` rows, post each instance its share, and wait until every job is done; seconds
    from the first post to the empty queue, and the cores other work used meanwhile."""
    uploads = [(PHOTOS[i % len(PHOTOS)][2], PHOTOS[i % len(PHOTOS)][0]) for i in range(rows)]
    created = insert_rows(api, setup.loop.setup.table_id, files, uploads)
    assert len(created) == rows, f"{len(created)} of {rows} rows read back"
    setup.rows += rows
    setup.expected_approved += sum(1 for _, name in uploads if name != "biden.jpg")
    busy, ours = _cpu(roots)
    started = time.perf_counter()
    for i, server in enumerate(setup.servers):
        event = {
            "type": "records.after.insert",
            "version": "v3",
            "data": {
                "table_id": setup.loop.setup.table_id,
                "table_name": "Uploads",
                "rows": created[i :: len(setup.servers)],
            },
        }
        response = httpx.post(
            f"{server.url}/webhooks/nocodb",
            json=event,
            headers={"X-Facegate-Secret": WEBHOOK_SECRET},
            timeout=60,
        )
        assert response.status_code == 202, response.text
    counts = _counts(setup.servers[0])
    while counts["done"] + counts["failed"] < setup.rows:
        if time.perf_counter() - started > DRAIN_TIMEOUT_SECONDS:
            logs = "\n".join(s.log_tail() for s in setup.servers)
            raise RuntimeError(
                f"{setup.label}: not drained after {DRAIN_TIMEOUT_SECONDS} s: {counts}\n{logs}"
            )
        time.sleep(POLL_SECONDS)
        counts = _counts(setup.servers[0])
    elapsed = time.perf_counter() - started
    busy_after, ours_after = _cpu(roots)
    if counts["failed"]:
        raise RuntimeError(f"{setup.label}: {counts['failed']} jobs failed:\n{setup.servers[0].log_tail()}")
    return elapsed, max(0.0, (busy_after - busy) - (ours_after - ours)) / elapsed


def _job_seconds(server: FacegateServer) -> tuple[float, float]:
    """The instance's ``facegate_job_seconds`` histogram: (jobs, seconds in all)."""
    return server.metric(f"{JOB_METRIC}_count"), server.metric(f"{JOB_METRIC}_sum")


def _configuration(
    nocodb: LocalNocoDB, workdir: Path, config: tuple[str, int, int, str], url: str | None
) -> _Setup:
    """A NocoDB table of its own (its webhook goes to a closed port) and its facegate processes on
    one database, not started yet."""
    label, instances, workers, database = config
    setup = bootstrap_base(
        nocodb.url, f"http://127.0.0.1:{free_port()}", base_title=f"bench-instances-{label.replace(' ', '')}"
    )
    servers = []
    for n in range(instances):
        folder = workdir / f"instance-{n + 1}"
        env = loop_env(nocodb, setup, folder, sweep_seconds=0) | {"FACEGATE_WORKERS": str(workers)}
        env |= {"FACEGATE_DATABASE_URL": url} if url else {}
        servers.append(FacegateServer(port=free_port(), env=env, workdir=folder))
    return _Setup(label, instances, workers, database, Loop(nocodb, setup, servers[0]), servers)


def throughput(nocodb: LocalNocoDB, rows: int = 8, rounds: int = 2) -> dict[str, Any]:
    """Rows decided per second by each configuration; ``rows`` per round, ``rounds`` A..D D..A passes."""
    files = {name: photo() for name, photo, _ in PHOTOS}
    with (
        running_postgres() as postgres,
        tempfile.TemporaryDirectory(prefix="facegate-bench-instances-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        started = time.perf_counter()
        setups = []
        for i, config in enumerate(CONFIGS):
            url = postgres.create_database(f"bench_instances_{i}") if config[3] == "postgresql" else None
            setups.append(_configuration(nocodb, Path(tmp) / str(i), config, url))
        # All started side by side: a start is mostly single-threaded imports and model loads.
        servers = stack.enter_context(running_facegates([s for setup in setups for s in setup.servers]))
        start_s = time.perf_counter() - started
        api = stack.enter_context(setups[0].loop.api(timeout=60))
        # This process and its children (NocoDB, facegate and its workers), and PostgreSQL's server.
        roots = [os.getpid(), *([postgres.pid] if postgres.pid else [])]
        for setup in setups:  # untimed: every worker's first photo, every connection opened
            _round(setup, api, files, setup.instances * setup.workers, roots)
        before = {server.url: _job_seconds(server) for server in servers}
        order = setups + setups[::-1]
        for _ in range(rounds):
            for setup in order:
                seconds, others = _round(setup, api, files, rows, roots)
                setup.seconds.append(seconds)
                setup.others_cores.append(others)
        results = {}
        for setup in setups:
            done = []  # (jobs, seconds) of each instance in the timed rounds
            for server in setup.servers:
                n, total = _job_seconds(server)
                done.append((n - before[server.url][0], total - before[server.url][1]))
            approved = api.get(
                f"/api/v2/tables/{setup.loop.setup.table_id}/records",
                params={"where": "(Status,eq,approved)", "limit": 1},
            ).json()["pageInfo"]["totalRows"]
            rate = rows / statistics.median(setup.seconds)  # a neighbour's burst is one round
            results[setup.label] = {
                "instances": setup.instances,
                "workers_per_instance": setup.workers,
                "database": setup.database,
                "seconds": setup.seconds,
                "rows_per_s": rate,
                "rows_per_s_range": [rows / max(setup.seconds), rows / min(setup.seconds)],
                "others_cores": setup.others_cores,
                "jobs_by_instance": [round(n) for n, _ in done],
                # A job in the runner, claimed to finished (facegate_job_seconds).
                "job_s_mean": sum(total for _, total in done) / sum(n for n, _ in done),
                "approved_rows": approved,
                "expected_approved": setup.expected_approved,
            }
    base = results[CONFIGS[0][0]]["rows_per_s"]
    return {
        "rows_per_round": rows,
        "rounds": len(order) * rounds,
        "photos": [name for name, _, _ in PHOTOS],
        "cores": os.cpu_count(),
        "start_s": start_s,
        "configs": results,
        "ratio_to_one_instance": {label: r["rows_per_s"] / base for label, r in results.items()},
    }


# -------------------------------------------------------------------------------------- store latency


@dataclass(frozen=True)
class _Stores:
    db: Database
    queue: JobQueue
    decisions: DecisionLog
    approvals: ApprovalStore
    purges: PurgeLog

    @classmethod
    def over(cls, target: Path | str) -> _Stores:
        db = Database(target)
        return cls(db, JobQueue(db), DecisionLog(db), ApprovalStore(db), PurgeLog(db))


def _attachment(n: int) -> dict[str, Any]:
    """An attachment as NocoDB's records API describes one (what a job keeps of it)."""
    path = f"download/noco/pbench/mbench/cImage/upload_{n}.jpg"
    return {
        "id": f"att{n:08d}",
        "path": path,
        "signedPath": f"dltemp/{n:032x}/{path}",
        "mimetype": "image/jpeg",
        "size": 412_345,
        "width": 1600,
        "height": 1200,
    }


class _Timer:
    def __init__(self) -> None:
        self.ops: dict[str, float] = {}

    def __call__(self, name: str, fn: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = fn()
        self.ops[name] = self.ops.get(name, 0.0) + time.perf_counter() - started
        return result


def _job(s: _Stores, n: int, approved: bool, renditions: dict[Rendition, bytes]) -> dict[str, float]:
    """The store calls of one job, in the order facegate makes them; seconds by call."""
    t = _Timer()
    row_id, key = n, f"{TABLE_ID}:{n}:{n:024x}"
    attachment = _attachment(n)
    row = {
        "Id": row_id,
        "CreatedAt": "2025-01-01 00:00:00+00:00",
        "politician": "obama",
        "attachments": [attachment],
    }
    # The webhook (inline on the event loop for a form submission's one row).
    t("enqueue", lambda: s.queue.enqueue([NewJob(key, TABLE_ID, row_id, row)], source="webhook"))
    # The runner: a claim, and the due-time read it makes when its slots are full.
    (job,) = t("claim", lambda: s.queue.claim(1))
    t("next_due_in", s.queue.next_due_in)
    # Moderation: a replay acts on a logged verdict, so the log is read first, then written.
    t("decision_for", lambda: s.decisions.decision_for(key))
    record = t(
        "record_decision",
        lambda: s.decisions.record_decision(
            row_key=key,
            table_id=TABLE_ID,
            row_id=row_id,
            politician="obama",
            decision=Decision.APPROVED if approved else Decision.REJECTED,
            reason=Reason.MATCH if approved else Reason.NO_MATCH,
            detail=None,
            distances=[{"obama": 0.41, "biden": 0.83}],
        ),
    )
    # Just before the write in NocoDB: this claim must still hold the job (renewed so).
    t("check_lease", lambda: s.queue.check_lease(job))
    # The lifecycle: approved (a row's earlier upload leaves) or rejected (the row's upload leaves).
    t("carousel_rows", lambda: s.approvals.live_ids_of_rows(TABLE_ID, [row_id]))
    if approved:
        approval = NewApproval(key, TABLE_ID, row_id, "obama", [attachment])
        t("carousel_add", lambda: s.approvals.add(approval, renditions))
    action = Action.APPROVED if approved else Action.DELETED
    t("record_action", lambda: s.decisions.record_action(record.id, action))
    if not approved:  # the eraser: the deleted row's file goes
        t("purge_for_row", lambda: s.purges.for_row(key))
        t(
            "purge_record",
            lambda: s.purges.record(
                row_key=key,
                table_id=TABLE_ID,
                row_id=row_id,
                trigger=PurgeTrigger.DELETED,
                state=PurgeState.DONE,
                locations=[attachment["path"]],
                files=1,
                bytes_removed=attachment["size"],
                detail=None,
            ),
        )
    t("finish", lambda: s.queue.finish(job, row_gone=not approved))
    return t.ops


def _summary_ms(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values) * 1e3,
        "p95": percentile(values, 95) * 1e3,
        "max": max(values) * 1e3,
    }


def store_latency(jobs: int = 150, warm_up: int = 5) -> dict[str, Any]:
    """Per-job store time on both backends: ``jobs`` approved and ``jobs`` rejected jobs on each."""
    renditions = Renditions(limits()).make(sample("obama2.jpg"))
    with (
        running_postgres() as postgres,
        tempfile.TemporaryDirectory(prefix="facegate-bench-store-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        backends = {
            "sqlite": _Stores.over(Path(tmp) / "facegate.sqlite3"),
            "postgresql": _Stores.over(postgres.create_database("bench_store")),
        }
        for stores in backends.values():
            stack.callback(stores.db.close)
        paths = ("approved", "rejected")
        totals: dict[str, dict[str, list[float]]] = {b: {p: [] for p in paths} for b in backends}
        ops: dict[str, dict[str, list[float]]] = {b: {} for b in backends}
        for n in range(warm_up + jobs):
            names = list(backends) if n % 2 else list(backends)[::-1]  # neither backend always goes first
            for path in paths:
                for name in names:
                    spent = _job(
                        backends[name], 2 * n + (path == "rejected") + 1, path == "approved", renditions
                    )
                    if n >= warm_up:
                        totals[name][path].append(sum(spent.values()))
                        for op, seconds in spent.items():
                            ops[name].setdefault(op, []).append(seconds)
    out: dict[str, Any] = {
        "jobs_per_path": jobs,
        "rendition_bytes": sum(len(jpeg) for jpeg in renditions.values()),
        "postgres": "durable (fsync, synchronous_commit on), loopback TCP",
        "sqlite": "WAL, synchronous=NORMAL (as shipped)",
        "backends": {
            name: {
                "paths": {path: _summary_ms(values) for path, values in totals[name].items()},
                "ops_median_ms": {op: statistics.median(v) * 1e3 for op, v in ops[name].items()},
            }
            for name in backends
        },
    }
    sqlite, postgresql = (out["backends"][name]["paths"] for name in ("sqlite", "postgresql"))
    out["added_ms"] = {
        path: {q: postgresql[path][q] - sqlite[path][q] for q in ("median", "p95")} for path in paths
    }
    out["ratio"] = {path: postgresql[path]["median"] / sqlite[path]["median"] for path in paths}
    return out
