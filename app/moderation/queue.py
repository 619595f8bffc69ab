"""The moderation queue: one durable job per NocoDB row to decide (table ``jobs``).

A job is keyed by an idempotency key (``row_key``) that includes more than the row Id, because NocoDB
reuses Ids after deletions: queuing the same upload twice (webhook and sweep) queues it once.

The key cannot tell everything apart: NocoDB on SQLite gives a deleted last row's Id to the next row,
and two rows without attachments created in the same second then share a key. So a job remembers
when its row left NocoDB (``row_gone``); a row that the sweep lists again under that key is a new
upload, and the old one's records are archived under ``<key>~<job id>`` before it is queued.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.db import Database, in_chunks, newest_first

__all__ = ["Job", "JobQueue", "JobState", "NewJob"]

# With the runner's backoff (2, 4 ... 60 s), about ten minutes of failures.
WAITING_LONG_ATTEMPTS = 12

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
    updated_at REAL NOT NULL,
    row_gone INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (state, next_attempt_at);
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


class JobQueue:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.create(SCHEMA, row_keyed=["jobs"])
        db.add_column("jobs", "row_gone", "INTEGER NOT NULL DEFAULT 0")

    def enqueue(self, jobs: Sequence[NewJob], *, source: str, listed_at: float | None = None) -> int:
        """Queue jobs whose key is new; returns how many were queued. Committed before it returns.

        ``listed_at``: the rows were listed from NocoDB's API at that time, so they exist; a key whose
        row had left NocoDB before then is a new upload, queued again. (A webhook's rows prove
        nothing: a replayed or forged event must not re-open anything.)"""
        now = time.time()
        with self.db.tx() as db:
            keys = [j.row_key for j in jobs] if listed_at is not None else []
            for chunk, marks in in_chunks(keys):
                gone = db.execute(
                    "SELECT id, row_key FROM jobs WHERE state = 'done' AND row_gone = 1"
                    f" AND updated_at < ? AND row_key IN ({marks})",
                    [listed_at, *chunk],
                ).fetchall()
                for old in gone:
                    self.db.archive_row_key(db, old["row_key"], f"{old['row_key']}~{old['id']}")
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
        with self.db.tx() as db:
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
        with self.db.tx() as db:
            return db.execute(
                "UPDATE jobs SET state = 'queued', updated_at = ? WHERE state = 'running'",
                (time.time(),),
            ).rowcount

    def finish(self, job_id: int, *, row_gone: bool = False) -> None:
        """Done: where the row's files were (links that name the uploader's file) is dropped with it;
        the decision, the approval and the purge log keep what each still needs. ``row_gone``: the
        row is no longer in NocoDB (deleted, or found gone)."""
        now = time.time()
        with self.db.tx() as db:
            db.execute(
                "UPDATE jobs SET state = 'done', last_error = NULL, next_attempt_at = ?, updated_at = ?,"
                " row_gone = ?, row_json = json_remove(row_json, '$.attachments') WHERE id = ?",
                (now, now, int(row_gone), job_id),
            )

    def recheck(self, row_keys: Sequence[str]) -> int:
        """Queue decided rows again: a moderator may have set their Status. Returns how many."""
        now, changed = time.time(), 0
        with self.db.tx() as db:
            for chunk, marks in in_chunks(row_keys):
                changed += db.execute(
                    "UPDATE jobs SET state = 'queued', attempts = 0, next_attempt_at = ?, updated_at = ?"
                    f" WHERE state = 'done' AND row_gone = 0 AND row_key IN ({marks})",
                    [now, now, *chunk],
                ).rowcount
        return changed

    def mark_gone(self, row_keys: Sequence[str]) -> None:
        """Decided rows that NocoDB reported deleted: their key may come back as a new upload."""
        with self.db.tx() as db:
            for chunk, marks in in_chunks(row_keys):
                db.execute(
                    "UPDATE jobs SET row_gone = 1, updated_at = ?"
                    f" WHERE state = 'done' AND row_key IN ({marks})",
                    [time.time(), *chunk],
                )

    def retry_later(self, job_id: int, error: str, delay: float) -> None:
        self._set_state(job_id, JobState.QUEUED, error, time.time() + delay)

    def fail(self, job_id: int, error: str) -> None:
        self._set_state(job_id, JobState.FAILED, error, time.time())

    def _set_state(self, job_id: int, state: JobState, error: str | None, next_attempt_at: float) -> None:
        with self.db.tx() as db:
            db.execute(
                "UPDATE jobs SET state = ?, last_error = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?",
                (state.value, error, next_attempt_at, time.time(), job_id),
            )

    def retry_failed(self, job_id: int) -> Job | None:
        """Queue a failed job again (an operator fixed its cause); None if no such failed job."""
        now = time.time()
        with self.db.tx() as db:
            changed = db.execute(
                "UPDATE jobs SET state = 'queued', next_attempt_at = ?, updated_at = ?"
                " WHERE id = ? AND state = 'failed'",
                (now, now, job_id),
            ).rowcount
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if changed else None

    def next_due_in(self) -> float | None:
        """Seconds until the next queued job is due (0 when one is due now), None when none is queued."""
        row = self.db.row("SELECT MIN(next_attempt_at) FROM jobs WHERE state = 'queued'")
        return None if row is None or row[0] is None else max(0.0, row[0] - time.time())

    def jobs(
        self, *, state: JobState | None = None, limit: int = 100, before_id: int | None = None
    ) -> list[Job]:
        query, args = newest_first(
            "jobs", [("state = ?", state.value if state else None)], limit=limit, before_id=before_id
        )
        return [_job(r) for r in self.db.rows(query, args)]

    def counts(self) -> dict[str, int]:
        rows = self.db.rows("SELECT state, COUNT(*) FROM jobs GROUP BY state")
        return {state.value: 0 for state in JobState} | {r[0]: r[1] for r in rows}

    def waiting_long(self) -> int:
        """Queued jobs retried ``WAITING_LONG_ATTEMPTS`` times or more: an outage an operator should see."""
        row = self.db.row(
            "SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND attempts >= ?", (WAITING_LONG_ATTEMPTS,)
        )
        return 0 if row is None else int(row[0])

    def oldest_queued_age(self) -> float | None:
        row = self.db.row("SELECT MIN(created_at) FROM jobs WHERE state IN ('queued', 'running')")
        return None if row is None or row[0] is None else time.time() - row[0]

    def prune(self, older_than: float) -> int:
        """Forget finished jobs older than the epoch ``older_than``; queued, running and failed stay."""
        with self.db.tx() as db:
            return db.execute(
                "DELETE FROM jobs WHERE state = 'done' AND updated_at < ?", (older_than,)
            ).rowcount


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
