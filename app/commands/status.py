"""``facegate status``: can facegate moderate, and what waits.

It runs readiness's checks itself (``app.readiness``: NocoDB, the token, the table, its columns, the
references; the words of ``/readyz``), asks the running service's ``/readyz``, then reads what waits
in facegate's database: the queue, failed jobs, held rows, rows awaiting review, pending purges. The
exit status is 0 when every check passes and 1 otherwise, so a script or a monitor may use it. It
opens the database beside a running facegate (SQLite's WAL, or the shared PostgreSQL) and changes
nothing.

What waits is a list of ``Waiting`` kinds, each read by one function of ``WAITING`` from the stores: a
new kind of waiting row is one more function there.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TextIO

import httpx

from app.config import Settings
from app.db import Database
from app.erasure.store import PurgeLog
from app.errors import ReferenceSetError
from app.integrations.nocodb.meta import NocoDBMetaClient
from app.moderation.decisions import DecisionLog
from app.moderation.queue import JobQueue, JobState
from app.politicians.profiles import read_politicians
from app.readiness import Check, check_nocodb, check_references

__all__ = ["STATUS_HEALTHY", "STATUS_UNHEALTHY", "WAITING", "Line", "Stores", "Waiting", "run_status"]

STATUS_HEALTHY: Final = 0
STATUS_UNHEALTHY: Final = 1
SERVICE_TIMEOUT_SECONDS: Final = 5.0
# Rows listed under each kind of waiting; the count says how many there are in all.
LISTED_ROWS: Final = 10
NOT_READY: Final = "not_ready"  # /readyz's code for references that cannot be loaded


@dataclass(frozen=True)
class Line:
    """One check as printed: passed, or failed with ``reason`` (``/readyz``'s code)."""

    name: str
    detail: str
    reason: str | None = None

    @classmethod
    def of(cls, check: Check) -> Line:
        return cls(check.name, check.detail, check.reason.value if check.reason else None)


@dataclass(frozen=True)
class Stores:
    """facegate's stores, as ``facegate status`` reads them."""

    queue: JobQueue
    decisions: DecisionLog
    purges: PurgeLog


@dataclass(frozen=True)
class Waiting:
    """One kind of row that waits for someone: how many, and the first few (row id, why)."""

    title: str
    count: int
    rows: Sequence[tuple[int, str]] = ()


def _failed_jobs(stores: Stores) -> Waiting:
    count = stores.queue.counts()[JobState.FAILED.value]
    jobs = stores.queue.jobs(state=JobState.FAILED, limit=LISTED_ROWS)
    return Waiting(
        "failed jobs (GET /jobs?state=failed; the rows stay undecided)",
        count,
        [(job.row_id, job.last_error or "") for job in jobs],
    )


def _held_rows(stores: Stores) -> Waiting:
    held = stores.queue.held(limit=LISTED_ROWS)
    return Waiting(
        "held rows, undecided and untouched until what holds them is fixed (GET /jobs?state=held)",
        sum(stores.queue.held_counts().values()),
        [(row.row_id, f"{row.reason}: {row.detail}") for row in held],
    )


def _awaiting_review(stores: Stores) -> Waiting:
    return Waiting(
        "rows awaiting review (Status = review in NocoDB's grid)", stores.decisions.awaiting_review()
    )


def _pending_purges(stores: Stores) -> Waiting:
    records = stores.purges.pending(limit=LISTED_ROWS)
    rows = [(record.row_id, record.detail or "") for record in records]
    return Waiting("pending purges (facegate purge)", stores.purges.pending_count(), rows)


# What waits, kind by kind, in the order printed.
WAITING: tuple[Callable[[Stores], Waiting], ...] = (
    _failed_jobs,
    _held_rows,
    _awaiting_review,
    _pending_purges,
)


async def run_status(
    settings: Settings,
    *,
    service_url: str,
    out: TextIO | None = None,
    nocodb_transport: httpx.AsyncBaseTransport | None = None,
    service_transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """Print the checks, the queue and what waits; ``STATUS_HEALTHY`` when every check passes."""
    out = out or sys.stdout
    lines = [
        *await _nocodb_lines(settings, nocodb_transport),
        _references_line(settings.reference_dir),
        await _service_line(service_url, service_transport),
    ]
    database = _database(settings)
    if isinstance(database, Line):
        lines.append(database)
    for line in lines:
        verdict = "ok" if line.reason is None else "FAIL"
        why = f"{line.reason}: " if line.reason else ""
        print(f"{line.name:<11} {verdict:<5} {why}{line.detail}", file=out)
    if isinstance(database, Database):
        try:
            _print_stores(_stores(settings, database), out)
        finally:
            database.close()
    failed = [line.reason for line in lines if line.reason is not None]
    if failed:
        print(f"unhealthy: {', '.join(dict.fromkeys(failed))}", file=out)
        return STATUS_UNHEALTHY
    print("healthy: facegate can moderate", file=out)
    return STATUS_HEALTHY


async def _nocodb_lines(settings: Settings, transport: httpx.AsyncBaseTransport | None) -> list[Line]:
    if not (settings.nocodb_url and settings.nocodb_table_id):
        detail = (
            "not configured (FACEGATE_NOCODB_URL, FACEGATE_NOCODB_TABLE_ID): webhooks are queued, not decided"
        )
        return [Line("nocodb", detail)]
    async with NocoDBMetaClient(base_url=settings.nocodb_url, transport=transport) as meta:
        if settings.nocodb_api_token is not None:
            meta.use_token(settings.nocodb_api_token.get_secret_value())
        return [
            Line.of(check)
            for check in await check_nocodb(
                meta, settings.nocodb_table_id, settings.fields, stamps=settings.stamp_secret is not None
            )
        ]


def _references_line(reference_dir: Path) -> Line:
    try:
        politicians = read_politicians(reference_dir)
    except ReferenceSetError as exc:
        return Line("references", exc.message, NOT_READY)
    return Line.of(check_references(len(politicians)))


async def _service_line(url: str, transport: httpx.AsyncBaseTransport | None) -> Line:
    """What the running service says of itself: it may see what this process cannot (a stopped task)."""
    readyz = url.rstrip("/") + "/readyz"
    try:
        async with httpx.AsyncClient(timeout=SERVICE_TIMEOUT_SECONDS, transport=transport) as http:
            response = await http.get(readyz)
    except httpx.HTTPError as exc:
        return Line(
            "service", f"no answer at {readyz} ({type(exc).__name__}): is facegate running?", "service_down"
        )
    if response.status_code == 200:
        return Line("service", f"ready at {url}")
    error = _error(response)
    return Line("service", f"{readyz}: {error[1]}", error[0])


def _error(response: httpx.Response) -> tuple[str, str]:
    """The code and message of an answer in facegate's error shape (or its HTTP status)."""
    try:
        error = response.json()["error"]
        return str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return f"http_{response.status_code}", response.text[:200]


def _database(settings: Settings) -> Database | Line:
    """The service's database; never a new empty one (the data folder would not be the service's)."""
    target = settings.database
    if isinstance(target, Path) and not target.is_file():
        return Line("database", f"no facegate database at {target} (FACEGATE_DATA_DIR)", "no_database")
    return Database(target)


def _stores(settings: Settings, db: Database) -> Stores:
    return Stores(
        queue=JobQueue(db, lease_seconds=settings.job_lease_seconds),
        decisions=DecisionLog(db),
        purges=PurgeLog(db),
    )


def _print_stores(stores: Stores, out: TextIO) -> None:
    counts = stores.queue.counts()
    age = stores.queue.oldest_queued_age()
    oldest = f", the oldest {age:.0f} s old" if age is not None else ""
    jobs = ", ".join(f"{count} {state}" for state, count in counts.items())
    print(f"queue: {jobs}{oldest}; {stores.queue.waiting_long()} waiting long (NocoDB failing)", file=out)
    for read in WAITING:
        waiting = read(stores)
        print(f"{waiting.title}: {waiting.count}", file=out)
        for row_id, why in waiting.rows:
            print(f"  row {row_id}: {why}" if why else f"  row {row_id}", file=out)
        if waiting.count > len(waiting.rows) and waiting.rows:
            print(f"  ... and {waiting.count - len(waiting.rows)} more", file=out)
