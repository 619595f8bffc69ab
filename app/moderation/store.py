"""facegate's own durable state, one SQLite file in ``DATA_DIR`` (WAL mode).

- ``jobs``: one per NocoDB row to decide, keyed by an idempotency key (``row_key``) that includes
  more than the row Id, because NocoDB reuses Ids after deletions.
- ``decisions``: the decision log (no image bytes, no encodings: distances only).
- ``approvals``: approved uploads for the carousel.

Calls are synchronous and short; async callers run them in a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    row_key TEXT NOT NULL UNIQUE,
    table_id TEXT NOT NULL,
    row_id INTEGER NOT NULL,
    row_json TEXT NOT NULL,
    source TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (state, next_attempt_at);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY,
    row_key TEXT NOT NULL UNIQUE,
    table_id TEXT NOT NULL,
    row_id INTEGER NOT NULL,
    politician TEXT,
    decision TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT,
    distances_json TEXT NOT NULL,
    action TEXT,
    decided_at REAL NOT NULL,
    acted_at REAL
);
CREATE INDEX IF NOT EXISTS decisions_row ON decisions (table_id, row_id);
CREATE TABLE IF NOT EXISTS approvals (
    id INTEGER PRIMARY KEY,
    row_key TEXT NOT NULL UNIQUE,
    table_id TEXT NOT NULL,
    row_id INTEGER NOT NULL,
    politician TEXT NOT NULL,
    attachments_json TEXT NOT NULL,
    approved_at REAL NOT NULL,
    removed_at REAL
);
CREATE INDEX IF NOT EXISTS approvals_live ON approvals (removed_at, politician, id);
"""


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class NewJob:
    row_key: str
    table_id: str
    row_id: int
    row: dict[str, Any]


@dataclass(frozen=True)
class Job:
    id: int
    row_key: str
    table_id: str
    row_id: int
    row: dict[str, Any]
    source: str
    state: JobState
    attempts: int
    last_error: str | None
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class DecisionRecord:
    id: int
    row_key: str
    table_id: str
    row_id: int
    politician: str | None
    decision: str
    reason: str
    detail: str | None
    distances: list[dict[str, float]]
    action: str | None
    decided_at: float
    acted_at: float | None


class Store:
    """One SQLite connection, serialised by a lock (SQLite allows one writer at a time anyway)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash (SIGKILL); only power loss can cost the last commits.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # Jobs.

    def enqueue(self, jobs: Sequence[NewJob], *, source: str) -> int:
        """Queue jobs whose key is new; returns how many were new. Committed before it returns."""
        now = time.time()
        with self._tx() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO jobs (row_key, table_id, row_id, row_json, source, state,"
                " next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
                [(j.row_key, j.table_id, j.row_id, json.dumps(j.row), source, now, now, now) for j in jobs],
            )
            return db.total_changes - before

    def claim(self, limit: int) -> list[Job]:
        """Mark up to ``limit`` due jobs running and return them, oldest first."""
        now = time.time()
        with self._tx() as db:
            rows = db.execute(
                "SELECT * FROM jobs WHERE state = 'queued' AND next_attempt_at <= ? ORDER BY id LIMIT ?",
                (now, limit),
            ).fetchall()
            db.executemany(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, updated_at = ? WHERE id = ?",
                [(now, r["id"]) for r in rows],
            )
        return [_job(r, state=JobState.RUNNING, attempts=r["attempts"] + 1) for r in rows]

    def requeue_running(self) -> int:
        """At start-up and shutdown: jobs left running by a stopped process go back to the queue."""
        with self._tx() as db:
            return db.execute(
                "UPDATE jobs SET state = 'queued', updated_at = ? WHERE state = 'running'",
                (time.time(),),
            ).rowcount

    def finish(self, job_id: int) -> None:
        self._set_state(job_id, JobState.DONE, None, time.time())

    def retry_later(self, job_id: int, error: str, delay: float) -> None:
        self._set_state(job_id, JobState.QUEUED, error, time.time() + delay)

    def fail(self, job_id: int, error: str) -> None:
        self._set_state(job_id, JobState.FAILED, error, time.time())

    def _set_state(self, job_id: int, state: JobState, error: str | None, next_attempt_at: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET state = ?, last_error = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?",
                (state.value, error, next_attempt_at, time.time(), job_id),
            )

    def retry_failed(self, job_id: int) -> Job | None:
        """Queue a failed job again (an operator fixed its cause); None if no such failed job."""
        now = time.time()
        with self._tx() as db:
            changed = db.execute(
                "UPDATE jobs SET state = 'queued', next_attempt_at = ?, updated_at = ?"
                " WHERE id = ? AND state = 'failed'",
                (now, now, job_id),
            ).rowcount
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if changed else None

    def next_due_in(self) -> float | None:
        """Seconds until the next queued job is due (0 when one is due now), None when none is queued."""
        with self._lock:
            row = self._db.execute("SELECT MIN(next_attempt_at) FROM jobs WHERE state = 'queued'").fetchone()
        return None if row[0] is None else max(0.0, row[0] - time.time())

    def jobs(
        self, *, state: JobState | None = None, limit: int = 100, before_id: int | None = None
    ) -> list[Job]:
        query, args = "SELECT * FROM jobs WHERE 1=1", list[object]()
        if state is not None:
            query, args = query + " AND state = ?", [*args, state.value]
        if before_id is not None:
            query, args = query + " AND id < ?", [*args, before_id]
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id DESC LIMIT ?", [*args, limit]).fetchall()
        return [_job(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        return {state.value: 0 for state in JobState} | {r[0]: r[1] for r in rows}

    def oldest_queued_age(self) -> float | None:
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(created_at) FROM jobs WHERE state IN ('queued', 'running')"
            ).fetchone()
        return None if row[0] is None else time.time() - row[0]

    # Decisions.

    def decision_for(self, row_key: str) -> DecisionRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM decisions WHERE row_key = ?", (row_key,)).fetchone()
        return None if row is None else _decision(row)

    def record_decision(
        self,
        *,
        job: Job,
        politician: str | None,
        decision: str,
        reason: str,
        detail: str | None,
        distances: list[dict[str, float]],
    ) -> DecisionRecord:
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO decisions (row_key, table_id, row_id, politician, decision, reason,"
                " detail, distances_json, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.row_key,
                    job.table_id,
                    job.row_id,
                    politician,
                    decision,
                    reason,
                    detail,
                    json.dumps(distances),
                    time.time(),
                ),
            )
            row = db.execute("SELECT * FROM decisions WHERE row_key = ?", (job.row_key,)).fetchone()
        return _decision(row)

    def record_action(
        self,
        row_key: str,
        action: str,
        *,
        approval: tuple[Job, str, list[dict[str, Any]]] | None = None,
    ) -> None:
        """Record what was done in NocoDB, and the approval for the carousel, in one transaction."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                "UPDATE decisions SET action = ?, acted_at = ? WHERE row_key = ?",
                (action, now, row_key),
            )
            if approval is not None:
                job, politician, attachments = approval
                db.execute(
                    "INSERT OR IGNORE INTO approvals (row_key, table_id, row_id, politician,"
                    " attachments_json, approved_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (row_key, job.table_id, job.row_id, politician, json.dumps(attachments), now),
                )

    def prune(self, older_than: float) -> dict[str, int]:
        """Forget what is older than the epoch ``older_than``: decisions, finished jobs, and
        approvals removed from the carousel. Queued, running and failed jobs and live approvals stay."""
        with self._tx() as db:
            return {
                "decisions": db.execute("DELETE FROM decisions WHERE decided_at < ?", (older_than,)).rowcount,
                "jobs": db.execute(
                    "DELETE FROM jobs WHERE state = 'done' AND updated_at < ?", (older_than,)
                ).rowcount,
                "approvals": db.execute(
                    "DELETE FROM approvals WHERE removed_at IS NOT NULL AND removed_at < ?", (older_than,)
                ).rowcount,
            }

    def approvals(
        self, *, politician: str | None = None, limit: int = 50, before_id: int | None = None
    ) -> list[Approval]:
        """Approved uploads still live, newest first."""
        query, args = "SELECT * FROM approvals WHERE removed_at IS NULL", list[object]()
        if politician is not None:
            query, args = query + " AND politician = ?", [*args, politician]
        if before_id is not None:
            query, args = query + " AND id < ?", [*args, before_id]
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id DESC LIMIT ?", [*args, limit]).fetchall()
        return [_approval(r) for r in rows]

    def approval(self, approval_id: int) -> Approval | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM approvals WHERE id = ? AND removed_at IS NULL", (approval_id,)
            ).fetchone()
        return None if row is None else _approval(row)

    def live_approval_keys(self, table_id: str) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT row_key, id FROM approvals WHERE table_id = ? AND removed_at IS NULL", (table_id,)
            ).fetchall()
        return {r[0]: r[1] for r in rows}

    def remove_approvals(self, approval_ids: Sequence[int]) -> None:
        """The rows are gone from NocoDB (a moderator deleted them): the carousel drops them."""
        now = time.time()
        with self._tx() as db:
            db.executemany(
                "UPDATE approvals SET removed_at = ? WHERE id = ?", [(now, i) for i in approval_ids]
            )

    def approvals_version(self) -> ApprovalsVersion:
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FILTER (WHERE removed_at IS NULL), COALESCE(MAX(id), 0),"
                " MAX(COALESCE(MAX(approved_at), 0), COALESCE(MAX(removed_at), 0)) FROM approvals"
            ).fetchone()
        return ApprovalsVersion(live=row[0], last_id=row[1], changed_at=row[2])

    def decisions(
        self,
        *,
        row_id: int | None = None,
        decision: str | None = None,
        reason: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[DecisionRecord]:
        query, args = "SELECT * FROM decisions WHERE 1=1", list[object]()
        for column, value in (("row_id", row_id), ("decision", decision), ("reason", reason)):
            if value is not None:
                query, args = query + f" AND {column} = ?", [*args, value]
        if before_id is not None:
            query, args = query + " AND id < ?", [*args, before_id]
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id DESC LIMIT ?", [*args, limit]).fetchall()
        return [_decision(r) for r in rows]


@dataclass(frozen=True)
class Approval:
    id: int
    row_key: str
    table_id: str
    row_id: int
    politician: str
    attachments: list[dict[str, Any]]
    approved_at: float


@dataclass(frozen=True)
class ApprovalsVersion:
    """Changes whenever an approval is added or removed: the carousel's ETag and Last-Modified."""

    live: int
    last_id: int
    changed_at: float


def _job(row: sqlite3.Row, **override: Any) -> Job:
    values = {
        "id": row["id"],
        "row_key": row["row_key"],
        "table_id": row["table_id"],
        "row_id": row["row_id"],
        "row": json.loads(row["row_json"]),
        "source": row["source"],
        "state": JobState(row["state"]),
        "attempts": row["attempts"],
        "last_error": row["last_error"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }
    return Job(**(values | override))


def _approval(row: sqlite3.Row) -> Approval:
    return Approval(
        id=row["id"],
        row_key=row["row_key"],
        table_id=row["table_id"],
        row_id=row["row_id"],
        politician=row["politician"],
        attachments=json.loads(row["attachments_json"]),
        approved_at=row["approved_at"],
    )


def _decision(row: sqlite3.Row) -> DecisionRecord:
    return DecisionRecord(
        id=row["id"],
        row_key=row["row_key"],
        table_id=row["table_id"],
        row_id=row["row_id"],
        politician=row["politician"],
        decision=row["decision"],
        reason=row["reason"],
        detail=row["detail"],
        distances=json.loads(row["distances_json"]),
        action=row["action"],
        decided_at=row["decided_at"],
        acted_at=row["acted_at"],
    )
