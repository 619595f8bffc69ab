"""The moderation queue: one durable job per NocoDB row to decide (table ``jobs``).

A job is keyed by an idempotency key (``row_key``) that includes more than the row Id, because NocoDB
reuses Ids after deletions: queuing the same upload twice (webhook and sweep) queues it once.

The key cannot tell everything apart: NocoDB on SQLite gives a deleted last row's Id to the next row,
and two rows without attachments created in the same second then share a key. So a job remembers
when its row left NocoDB (``row_gone``); a row that the sweep lists again under that key is a new
upload, and the old one's records are archived under ``<key>~<job id>`` before it is queued.

A job that facegate must not decide yet waits as ``held`` (``app.outcomes.HoldReason``: the backlog
not confirmed, a select option without a politician, the references not loaded...): no decision, no
NocoDB write. Held jobs are queued again when what held them may have changed (``release_held``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from app.db import Database, in_chunks, newest_first
from app.outcomes import HoldReason
from app.tables import jobs as t

__all__ = ["HeldRow", "Job", "JobQueue", "JobState", "LeaseLost", "NewJob"]

# With the runner's backoff (2, 4 ... 60 s), about ten minutes of failures.
WAITING_LONG_ATTEMPTS = 12
# A running job belongs to its claim this long unless the runner renews it; an instance that dies
# (SIGKILL, machine loss) stops renewing, and another takes the job over after this.
DEFAULT_LEASE_SECONDS = 60.0


class LeaseLost(Exception):
    """The job was taken over by another instance (this one stalled past its lease): stop, act no more."""


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    # Undecided and untouched until what holds it is fixed (``HoldReason``).
    HELD = "held"


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
    lease: str | None = None  # the claim that runs it (``claim``), None when not running
    held_reason: HoldReason | None = None  # why a held job waits (``last_error`` says it in words)
    held_since: float | None = None


@dataclass(frozen=True)
class HeldRow:
    """A row facegate holds: why (``reason``, and ``detail`` in words) and since when (epoch)."""

    job_id: int
    row_id: int
    reason: HoldReason
    detail: str
    since: float


class JobQueue:
    """The jobs of every instance that shares the database: each claim takes due jobs (and running
    ones whose lease ran out) that no other claim holds, and marks them with its own lease."""

    def __init__(self, db: Database, *, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> None:
        self.db = db
        self.lease_seconds = lease_seconds
        # Claims of this instance are ``<instance>:<n>``: ``release_mine`` hands back only ours.
        self.instance = uuid.uuid4().hex[:12]
        self._claims = 0

    def enqueue(self, jobs: Sequence[NewJob], *, source: str, listed_at: float | None = None) -> int:
        """Queue jobs whose key is new; returns how many were queued. Committed before it returns.

        ``listed_at``: the rows were listed from NocoDB's API at that time, so they exist; a key whose
        row had left NocoDB before then is a new upload, queued again. (A webhook's rows prove
        nothing: a replayed or forged event must not re-open anything.)"""
        if not jobs:
            return 0
        now = self.db.clock()
        with self.db.tx() as conn:
            keys = [j.row_key for j in jobs] if listed_at is not None else []
            for chunk in in_chunks(keys):
                gone = conn.execute(
                    sa.select(t.c.id, t.c.row_key).where(
                        t.c.state == JobState.DONE,
                        t.c.row_gone.is_(True),
                        t.c.updated_at < listed_at,
                        t.c.row_key.in_(chunk),
                    )
                ).all()
                for old in gone:
                    self.db.archive_row_key(conn, old.row_key, f"{old.row_key}~{old.id}")
            inserted = conn.execute(
                self.db.insert(t).on_conflict_do_nothing().returning(t.c.id),
                [
                    {
                        "row_key": j.row_key,
                        "table_id": j.table_id,
                        "row_id": j.row_id,
                        "row_json": json.dumps(j.row),
                        "source": source,
                        "state": JobState.QUEUED.value,
                        "next_attempt_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for j in jobs
                ],
            ).all()
            return len(inserted)

    def claim(self, limit: int) -> list[Job]:
        """Take up to ``limit`` due jobs, oldest first, under a new lease: queued ones, and running
        ones whose claim stopped renewing (its instance died). Other instances skip them."""
        if limit <= 0:
            return []
        now = self.db.clock()
        self._claims += 1
        lease = f"{self.instance}:{self._claims}"
        due = (
            sa.select(t.c.id)
            .where(
                sa.or_(
                    sa.and_(t.c.state == JobState.QUEUED, t.c.next_attempt_at <= now),
                    sa.and_(t.c.state == JobState.RUNNING, t.c.lease_until < now),
                )
            )
            .order_by(t.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self.db.tx() as conn:
            rows = (
                conn.execute(
                    sa.update(t)
                    .where(t.c.id.in_(due.scalar_subquery()))
                    .values(
                        state=JobState.RUNNING.value,
                        attempts=t.c.attempts + 1,
                        claimed_by=lease,
                        lease_until=now + self.lease_seconds,
                        updated_at=now,
                    )
                    .returning(*t.c)
                )
                .mappings()
                .all()
            )
        return sorted((_job(r) for r in rows), key=lambda job: job.id)

    def renew(self, held: Sequence[Job]) -> set[int]:
        """Extend the leases of running jobs; returns the ids still held (a job missing from it was
        taken over by another instance and must not be acted on any further)."""
        if not held:
            return set()
        now = self.db.clock()
        kept: set[int] = set()
        with self.db.tx() as conn:
            for job in held:
                changed = conn.execute(
                    sa.update(t)
                    .where(t.c.id == job.id, t.c.claimed_by == job.lease, t.c.state == JobState.RUNNING)
                    .values(lease_until=now + self.lease_seconds)
                ).rowcount
                if changed:
                    kept.add(job.id)
        return kept

    def check_lease(self, job: Job) -> None:
        """Just before an action on the job's row: raise ``LeaseLost`` unless this claim still holds
        the job (renewing it). A job that was never claimed (tests, tools) has nothing to check."""
        if job.lease is not None and not self.renew([job]):
            raise LeaseLost(f"Job {job.id} was taken over by another instance.")

    def release_mine(self) -> int:
        """At shutdown: this instance's running jobs go back to the queue, due at once."""
        return self._release(t.c.claimed_by.startswith(f"{self.instance}:", autoescape=True))

    def release_all(self) -> int:
        """At start-up on a database no other instance uses (SQLite): jobs left running by a stopped
        process go back to the queue at once, instead of after their lease."""
        assert not self.db.shared, "other instances' jobs are theirs until their lease ends"
        return self._release(sa.true())

    def _release(self, whose: sa.ColumnElement[bool]) -> int:
        now = self.db.clock()
        with self.db.tx() as conn:
            return conn.execute(
                sa.update(t)
                .where(t.c.state == JobState.RUNNING, whose)
                .values(state=JobState.QUEUED.value, claimed_by=None, lease_until=None, updated_at=now)
            ).rowcount

    def finish(self, job: Job, *, row_gone: bool = False) -> bool:
        """Done: where the row's files were (links that name the uploader's file) is dropped with it;
        the decision, the approval and the purge log keep what each still needs. ``row_gone``: the
        row is no longer in NocoDB (deleted, or found gone). False if the lease was lost."""
        now = self.db.clock()
        row = {key: value for key, value in job.row.items() if key != "attachments"}
        return self._settle(
            job,
            state=JobState.DONE.value,
            last_error=None,
            next_attempt_at=now,
            row_gone=row_gone,
            row_json=json.dumps(row),
            held_since=None,
        )

    def hold(self, job: Job, reason: HoldReason, detail: str) -> bool:
        """Hold the job: undecided and untouched until ``release_held``. A job held before keeps the
        time it was first held. False if the lease was lost."""
        now = self.db.clock()
        return self._settle(
            job,
            state=JobState.HELD.value,
            held_reason=reason.value,
            held_since=sa.func.coalesce(t.c.held_since, now),
            last_error=detail,
            next_attempt_at=now,
        )

    def release_held(self, reasons: Sequence[HoldReason] | None = None) -> int:
        """Queue held jobs again, due at once (those held for ``reasons``, else all): what held them
        may be fixed. A job still held for the same reason is held again. Returns how many."""
        return self._unhold(t.c.held_reason.in_([r.value for r in reasons]) if reasons is not None else None)

    def release_rows(self, row_keys: Sequence[str]) -> int:
        """Queue the held jobs of these uploads again, due at once: a delete event named them, and a
        job that finds its row gone erases the files it proved the row's own while it was held."""
        return self._unhold(t.c.row_key.in_(list(row_keys))) if row_keys else 0

    def _unhold(self, which: sa.ColumnElement[bool] | None) -> int:
        now = self.db.clock()
        with self.db.tx() as conn:
            return conn.execute(
                sa.update(t)
                .where(t.c.state == JobState.HELD, which if which is not None else sa.true())
                .values(state=JobState.QUEUED.value, held_reason=None, next_attempt_at=now, updated_at=now)
            ).rowcount

    def held(self, *, limit: int = 100) -> list[HeldRow]:
        """The rows held longest, first."""
        query = (
            sa.select(t.c.id, t.c.row_id, t.c.held_reason, t.c.last_error, t.c.held_since)
            .where(t.c.state == JobState.HELD)
            .order_by(t.c.held_since, t.c.id)
            .limit(limit)
        )
        return [
            HeldRow(
                job_id=r["id"],
                row_id=r["row_id"],
                reason=HoldReason(r["held_reason"]),
                detail=r["last_error"] or "",
                since=r["held_since"],
            )
            for r in self.db.rows(query)
        ]

    def held_counts(self) -> dict[str, int]:
        """Held jobs by reason (every reason, 0 when none)."""
        rows = self.db.rows(
            sa.select(t.c.held_reason, sa.func.count().label("n"))
            .where(t.c.state == JobState.HELD)
            .group_by(t.c.held_reason)
        )
        return {reason.value: 0 for reason in HoldReason} | {r["held_reason"]: r["n"] for r in rows}

    def retry_later(self, job: Job, error: str, delay: float) -> bool:
        return self._settle(
            job, state=JobState.QUEUED.value, last_error=error, next_attempt_at=self.db.clock() + delay
        )

    def defer(self, job: Job, until: float, why: str) -> bool:
        """The job runs again at ``until`` (``Deferred``), not as a failed try: its tries start over."""
        queued = JobState.QUEUED.value
        return self._settle(job, state=queued, attempts=0, last_error=why, next_attempt_at=until)

    def fail(self, job: Job, error: str) -> bool:
        return self._settle(
            job, state=JobState.FAILED.value, last_error=error, next_attempt_at=self.db.clock()
        )

    def _settle(self, job: Job, **values: Any) -> bool:
        """End a claim; only the claim that holds the job may (a job taken over is the other's)."""
        with self.db.tx() as conn:
            return bool(
                conn.execute(
                    sa.update(t)
                    .where(t.c.id == job.id, t.c.claimed_by == job.lease, t.c.state == JobState.RUNNING)
                    .values(claimed_by=None, lease_until=None, updated_at=self.db.clock(), **values)
                ).rowcount
            )

    def recheck(self, row_keys: Sequence[str]) -> int:
        """Queue decided rows again: a moderator may have set their Status. A job waiting for a later
        time (a moderator's rejection in its grace period) is brought forward: the Status may have been
        changed back. Returns how many."""
        now, changed = self.db.clock(), 0
        decided = sa.and_(t.c.state == JobState.DONE, t.c.row_gone.is_(False))
        waiting = sa.and_(t.c.state == JobState.QUEUED, t.c.next_attempt_at > now)
        with self.db.tx() as conn:
            for chunk in in_chunks(row_keys):
                changed += conn.execute(
                    sa.update(t)
                    .where(sa.or_(decided, waiting), t.c.row_key.in_(chunk))
                    .values(
                        state=JobState.QUEUED.value,
                        # A decided row starts over; a waiting job keeps its count (outage alerts).
                        attempts=sa.case((decided, 0), else_=t.c.attempts),
                        next_attempt_at=now,
                        updated_at=now,
                    )
                ).rowcount
        return changed

    def mark_gone(self, row_keys: Sequence[str]) -> None:
        """Decided rows that NocoDB reported deleted: their key may come back as a new upload."""
        with self.db.tx() as conn:
            for chunk in in_chunks(row_keys):
                conn.execute(
                    sa.update(t)
                    .where(t.c.state == JobState.DONE, t.c.row_key.in_(chunk))
                    .values(row_gone=True, updated_at=self.db.clock())
                )

    def newest_row_id(self, table_id: str) -> int:
        """The highest row Id of ``table_id`` whose upload was queued and not seen leaving NocoDB (0
        for none): the newest row facegate knows is there."""
        newest = self.db.scalar(
            sa.select(sa.func.max(t.c.row_id)).where(t.c.table_id == table_id, t.c.row_gone.is_(False))
        )
        return int(newest or 0)

    def retry_failed(self, job_id: int) -> Job | None:
        """Queue a failed job again (an operator fixed its cause); None if no such failed job."""
        now = self.db.clock()
        with self.db.tx() as conn:
            row = (
                conn.execute(
                    sa.update(t)
                    .where(t.c.id == job_id, t.c.state == JobState.FAILED)
                    .values(state=JobState.QUEUED.value, next_attempt_at=now, updated_at=now)
                    .returning(*t.c)
                )
                .mappings()
                .first()
            )
        return None if row is None else _job(row)

    def next_due_in(self) -> float | None:
        """Seconds until the next job is due (0 when one is due now), None when none is waiting: a
        queued job, or a running one whose lease will run out."""
        due = self.db.scalar(
            sa.select(
                sa.func.min(
                    sa.case((t.c.state == JobState.QUEUED, t.c.next_attempt_at), else_=t.c.lease_until)
                )
            ).where(t.c.state.in_([JobState.QUEUED, JobState.RUNNING]))
        )
        return None if due is None else max(0.0, due - self.db.clock())

    def jobs(
        self, *, state: JobState | None = None, limit: int = 100, before_id: int | None = None
    ) -> list[Job]:
        query = newest_first(t, [(t.c.state == state, state)], limit=limit, before_id=before_id)
        return [_job(r) for r in self.db.rows(query)]

    def counts(self) -> dict[str, int]:
        rows = self.db.rows(sa.select(t.c.state, sa.func.count().label("n")).group_by(t.c.state))
        return {state.value: 0 for state in JobState} | {r["state"]: r["n"] for r in rows}

    def waiting_long(self) -> int:
        """Queued jobs retried ``WAITING_LONG_ATTEMPTS`` times or more: an outage an operator should see."""
        return int(
            self.db.scalar(
                sa.select(sa.func.count()).where(
                    t.c.state == JobState.QUEUED, t.c.attempts >= WAITING_LONG_ATTEMPTS
                )
            )
        )

    def oldest_queued_age(self) -> float | None:
        oldest = self.db.scalar(
            sa.select(sa.func.min(t.c.created_at)).where(t.c.state.in_([JobState.QUEUED, JobState.RUNNING]))
        )
        return None if oldest is None else self.db.clock() - oldest

    def prune(self, older_than: float) -> int:
        """Forget finished jobs older than the epoch ``older_than``; queued, running and failed stay."""
        with self.db.tx() as conn:
            return conn.execute(
                sa.delete(t).where(t.c.state == JobState.DONE, t.c.updated_at < older_than)
            ).rowcount


def _job(row: RowMapping) -> Job:
    return Job(
        id=row["id"],
        row_key=row["row_key"],
        table_id=row["table_id"],
        row_id=row["row_id"],
        row=json.loads(row["row_json"]),
        source=row["source"],
        state=JobState(row["state"]),
        attempts=row["attempts"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        lease=row["claimed_by"],
        held_reason=None if row["held_reason"] is None else HoldReason(row["held_reason"]),
        held_since=row["held_since"],
    )
