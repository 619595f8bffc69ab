from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.moderation.store import Job, JobState, NewJob, Store

T0 = 1_800_000_000.0


class Clock:
    """Stands in for the ``time`` module inside the store."""

    def __init__(self) -> None:
        self.now = T0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr("app.moderation.store.time", fake)
    return fake


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "facegate.db"


@pytest.fixture
def store(db_path: Path, clock: Clock) -> Iterator[Store]:
    opened = Store(db_path)
    yield opened
    opened.close()


def new(n: int, *, table: str = "t1") -> NewJob:
    return NewJob(
        row_key=f"{table}:{n}:key{n}", table_id=table, row_id=n, row={"Id": n, "politician": "obama"}
    )


def queue(store: Store, *ns: int) -> None:
    assert store.enqueue([new(n) for n in ns], source="webhook") == len(ns)


def state(store: Store, job_id: int) -> Job:
    [job] = [j for j in store.jobs(limit=1000) if j.id == job_id]
    return job


def test_file_created_in_wal_mode(store: Store, db_path: Path) -> None:
    assert db_path.exists()
    with sqlite3.connect(db_path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_enqueue_is_idempotent_by_row_key(store: Store) -> None:
    assert store.enqueue([new(1), new(2)], source="webhook") == 2
    changed = NewJob(row_key=new(2).row_key, table_id="t1", row_id=2, row={"Id": 2, "politician": "biden"})
    assert store.enqueue([changed, new(3), new(3)], source="sweep") == 1
    assert store.enqueue([], source="sweep") == 0
    jobs = {j.row_id: j for j in store.jobs()}
    assert sorted(jobs) == [1, 2, 3]
    assert jobs[2].row == {"Id": 2, "politician": "obama"} and jobs[2].source == "webhook"
    assert jobs[3].source == "sweep" and jobs[3].state is JobState.QUEUED and jobs[3].attempts == 0


def test_claim_marks_running_oldest_first_up_to_limit(store: Store) -> None:
    queue(store, 3, 1, 2)
    first = store.claim(2)
    assert [j.row_id for j in first] == [3, 1]
    assert all(j.state is JobState.RUNNING and j.attempts == 1 for j in first)
    assert first[0].row == {"Id": 3, "politician": "obama"}
    assert [j.row_id for j in store.claim(10)] == [2]
    assert store.claim(10) == []
    assert store.counts() == {"queued": 0, "running": 3, "done": 0, "failed": 0}
    assert state(store, first[0].id).attempts == 1


def test_claim_respects_next_attempt_at(store: Store, clock: Clock) -> None:
    queue(store, 1, 2)
    job, other = store.claim(2)
    store.retry_later(job.id, "NocoDB down", 30)
    store.finish(other.id)
    assert store.claim(10) == []
    clock.now += 29.9
    assert store.claim(10) == []
    clock.now += 0.1
    [again] = store.claim(10)
    assert again.id == job.id and again.attempts == 2 and again.last_error == "NocoDB down"


def test_finish_fail_retry_later_set_state_and_error(store: Store) -> None:
    queue(store, 1, 2, 3)
    a, b, c = store.claim(3)
    store.finish(a.id)
    store.fail(b.id, "refused: 403")
    store.retry_later(c.id, "timeout", 60)
    assert (state(store, a.id).state, state(store, a.id).last_error) == (JobState.DONE, None)
    assert (state(store, b.id).state, state(store, b.id).last_error) == (JobState.FAILED, "refused: 403")
    assert (state(store, c.id).state, state(store, c.id).last_error) == (JobState.QUEUED, "timeout")
    assert store.counts() == {"queued": 1, "running": 0, "done": 1, "failed": 1}
    assert [j.row_id for j in store.jobs(state=JobState.FAILED)] == [2]


def test_requeue_running_hands_jobs_back(store: Store) -> None:
    queue(store, 1, 2, 3)
    a, _ = store.claim(2)
    store.finish(a.id)
    assert store.requeue_running() == 1
    assert store.counts()["running"] == 0 and store.counts()["queued"] == 2
    assert [(j.row_id, j.attempts) for j in store.claim(10)] == [(2, 2), (3, 1)]
    assert store.requeue_running() == 2
    assert store.requeue_running() == 0


def test_next_due_in(store: Store, clock: Clock) -> None:
    assert store.next_due_in() is None
    queue(store, 1)
    assert store.next_due_in() == 0.0
    [job] = store.claim(1)
    assert store.next_due_in() is None  # running jobs are not waiting
    store.retry_later(job.id, "later", 30)
    assert store.next_due_in() == pytest.approx(30)
    clock.now += 10
    assert store.next_due_in() == pytest.approx(20)
    clock.now += 100
    assert store.next_due_in() == 0.0


def test_oldest_queued_age_counts_queued_and_running(store: Store, clock: Clock) -> None:
    assert store.oldest_queued_age() is None
    queue(store, 1)
    clock.now += 5
    queue(store, 2)
    clock.now += 10
    assert store.oldest_queued_age() == pytest.approx(15)
    first, _ = store.claim(2)
    assert store.oldest_queued_age() == pytest.approx(15)
    store.finish(first.id)
    assert store.oldest_queued_age() == pytest.approx(10)


def test_jobs_newest_first_with_before_id(store: Store) -> None:
    queue(store, 1, 2, 3, 4)
    ids = [j.id for j in store.jobs()]
    assert ids == sorted(ids, reverse=True)
    assert [j.id for j in store.jobs(limit=2, before_id=ids[1])] == ids[2:4]


def decide(store: Store, job: Job, decision: str = "rejected", reason: str = "no_face") -> None:
    store.record_decision(
        job=job, politician="obama", decision=decision, reason=reason, detail=None, distances=[]
    )


def test_record_decision_keeps_the_first(store: Store, clock: Clock) -> None:
    queue(store, 1)
    [job] = store.claim(1)
    first = store.record_decision(
        job=job,
        politician="obama",
        decision="approved",
        reason="match",
        detail="d",
        distances=[{"obama": 0.4}],
    )
    clock.now += 5
    second = store.record_decision(
        job=job, politician="biden", decision="rejected", reason="no_match", detail=None, distances=[]
    )
    assert second == first
    assert (first.decision, first.reason, first.distances, first.action) == (
        "approved",
        "match",
        [{"obama": 0.4}],
        None,
    )
    assert first.decided_at == T0 and first.row_id == 1 and first.table_id == "t1"
    assert store.decision_for(job.row_key) == first
    assert store.decision_for("t1:9:unknown") is None


def approvals(db_path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db_path) as db:
        query = "SELECT row_key, politician, attachments_json FROM approvals ORDER BY id"
        return db.execute(query).fetchall()


def test_record_action_and_approval_once(store: Store, db_path: Path, clock: Clock) -> None:
    queue(store, 1, 2)
    approved, rejected = store.claim(2)
    decide(store, approved, "approved", "match")
    decide(store, rejected)
    clock.now += 3
    attachments = [{"path": "download/a.jpg"}]
    store.record_action(approved.row_key, "approved", approval=(approved, "obama", attachments))
    store.record_action(approved.row_key, "approved", approval=(approved, "obama", attachments))
    store.record_action(rejected.row_key, "deleted")
    record = store.decision_for(approved.row_key)
    assert record is not None and (record.action, record.acted_at) == ("approved", T0 + 3)
    assert approvals(db_path) == [(approved.row_key, "obama", '[{"path": "download/a.jpg"}]')]
    gone = store.decision_for(rejected.row_key)
    assert gone is not None and gone.action == "deleted"


def test_decisions_filter_and_paginate(store: Store) -> None:
    queue(store, 1, 2, 3, 4)
    jobs = store.claim(4)
    for job, (decision, reason) in zip(
        jobs,
        [("approved", "match"), ("rejected", "no_face"), ("rejected", "no_match"), ("rejected", "no_face")],
        strict=True,
    ):
        decide(store, job, decision, reason)
    everything = store.decisions()
    assert [d.row_id for d in everything] == [4, 3, 2, 1]
    assert [d.row_id for d in store.decisions(decision="rejected")] == [4, 3, 2]
    assert [d.row_id for d in store.decisions(reason="no_face")] == [4, 2]
    assert [d.row_id for d in store.decisions(row_id=3)] == [3]
    assert [d.row_id for d in store.decisions(decision="approved", reason="no_face")] == []
    page = store.decisions(limit=2)
    assert [d.row_id for d in page] == [4, 3]
    assert [d.row_id for d in store.decisions(limit=2, before_id=page[-1].id)] == [2, 1]


CRASHING_WRITER = """
import os, sys
from pathlib import Path
from app.moderation.store import NewJob, Store
store = Store(Path(sys.argv[1]))
store.enqueue([NewJob(f"t1:{n}:key{n}", "t1", n, {"Id": n}) for n in (1, 2)], source="webhook")
[job] = store.claim(1)
store.record_decision(
    job=job, politician=None, decision="rejected", reason="no_face", detail=None, distances=[]
)
os._exit(0)  # killed: no close, no checkpoint
"""


def test_state_survives_a_killed_process(db_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(db_path)], check=True, cwd=root, timeout=60)
    restarted = Store(db_path)
    try:
        assert restarted.enqueue([new(1)], source="sweep") == 0
        assert restarted.counts() == {"queued": 1, "running": 1, "done": 0, "failed": 0}
        assert restarted.requeue_running() == 1
        assert [(j.row_id, j.attempts) for j in restarted.claim(10)] == [(1, 2), (2, 1)]
        assert [(d.row_key, d.reason) for d in restarted.decisions()] == [("t1:1:key1", "no_face")]
    finally:
        restarted.close()


def test_a_second_store_sees_committed_writes(db_path: Path) -> None:
    first, second = Store(db_path), Store(db_path)
    try:
        first.enqueue([new(1)], source="webhook")
        assert [j.row_id for j in second.claim(5)] == [1]
        assert first.claim(5) == []
    finally:
        first.close()
        second.close()


def test_prune_keeps_what_is_live(tmp_path: Path) -> None:
    import time as real_time

    from app.moderation.store import NewJob as Job_
    from app.moderation.store import Store as Store_

    store = Store_(tmp_path / "prune.db")
    store.enqueue([Job_(f"k{i}", "t", i, {"Id": i}) for i in (1, 2, 3)], source="test")
    claimed = store.claim(3)
    store.finish(claimed[0].id)
    store.fail(claimed[1].id, "refused")  # failed: kept for operators
    record = store.record_decision(
        job=claimed[0], politician="obama", decision="approved", reason="match", detail=None, distances=[]
    )
    store.record_action(record.row_key, "approved", approval=(claimed[0], "obama", []))
    pruned = store.prune(real_time.time() + 1)
    assert pruned == {"decisions": 1, "jobs": 1, "approvals": 0}
    assert {j.state.value for j in store.jobs()} == {"failed", "running"}
    assert len(store.approvals()) == 1  # live approvals stay for the carousel
    store.remove_approvals([store.approvals()[0].id])
    assert store.prune(real_time.time() + 1)["approvals"] == 1
    store.close()
