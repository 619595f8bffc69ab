"""The moderation queue (``jobs``): idempotent enqueue, claims, retries, and what operators see."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.db import Database
from app.moderation.queue import Job, JobQueue, JobState, NewJob
from app.outcomes import Action, Decision, Reason
from tests.support import T0, Clock, fresh_stores


@pytest.fixture
def queue(tmp_path: Path, clock: Clock) -> Iterator[JobQueue]:
    db = Database(tmp_path / "facegate.db")
    yield JobQueue(db)
    db.close()


def new(n: int, *, table: str = "t1") -> NewJob:
    return NewJob(
        row_key=f"{table}:{n}:key{n}", table_id=table, row_id=n, row={"Id": n, "politician": "obama"}
    )


def enqueue(queue: JobQueue, *ns: int) -> None:
    assert queue.enqueue([new(n) for n in ns], source="webhook") == len(ns)


def state(queue: JobQueue, job_id: int) -> Job:
    [job] = [j for j in queue.jobs(limit=1000) if j.id == job_id]
    return job


def test_enqueue_is_idempotent_by_row_key(queue: JobQueue) -> None:
    assert queue.enqueue([new(1), new(2)], source="webhook") == 2
    changed = NewJob(row_key=new(2).row_key, table_id="t1", row_id=2, row={"Id": 2, "politician": "biden"})
    assert queue.enqueue([changed, new(3), new(3)], source="sweep") == 1
    assert queue.enqueue([], source="sweep") == 0
    jobs = {j.row_id: j for j in queue.jobs()}
    assert sorted(jobs) == [1, 2, 3]
    assert jobs[2].row == {"Id": 2, "politician": "obama"} and jobs[2].source == "webhook"
    assert jobs[3].source == "sweep" and jobs[3].state is JobState.QUEUED and jobs[3].attempts == 0


def test_claim_marks_running_oldest_first_up_to_limit(queue: JobQueue) -> None:
    enqueue(queue, 3, 1, 2)
    first = queue.claim(2)
    assert [j.row_id for j in first] == [3, 1]
    assert all(j.state is JobState.RUNNING and j.attempts == 1 for j in first)
    assert first[0].row == {"Id": 3, "politician": "obama"}
    assert [j.row_id for j in queue.claim(10)] == [2]
    assert queue.claim(10) == []
    assert queue.counts() == {"queued": 0, "running": 3, "done": 0, "failed": 0}
    assert state(queue, first[0].id).attempts == 1


def test_claim_respects_next_attempt_at(queue: JobQueue, clock: Clock) -> None:
    enqueue(queue, 1, 2)
    job, other = queue.claim(2)
    queue.retry_later(job.id, "NocoDB down", 30)
    queue.finish(other.id)
    assert queue.claim(10) == []
    clock.now += 29.9
    assert queue.claim(10) == []
    clock.now += 0.1
    [again] = queue.claim(10)
    assert again.id == job.id and again.attempts == 2 and again.last_error == "NocoDB down"


def test_finish_fail_retry_later_set_state_and_error(queue: JobQueue) -> None:
    enqueue(queue, 1, 2, 3)
    a, b, c = queue.claim(3)
    queue.finish(a.id)
    queue.fail(b.id, "refused: 403")
    queue.retry_later(c.id, "timeout", 60)
    assert (state(queue, a.id).state, state(queue, a.id).last_error) == (JobState.DONE, None)
    assert (state(queue, b.id).state, state(queue, b.id).last_error) == (JobState.FAILED, "refused: 403")
    assert (state(queue, c.id).state, state(queue, c.id).last_error) == (JobState.QUEUED, "timeout")
    assert queue.counts() == {"queued": 1, "running": 0, "done": 1, "failed": 1}
    assert [j.row_id for j in queue.jobs(state=JobState.FAILED)] == [2]


def test_requeue_running_hands_jobs_back(queue: JobQueue) -> None:
    enqueue(queue, 1, 2, 3)
    a, _ = queue.claim(2)
    queue.finish(a.id)
    assert queue.requeue_running() == 1
    assert queue.counts()["running"] == 0 and queue.counts()["queued"] == 2
    assert [(j.row_id, j.attempts) for j in queue.claim(10)] == [(2, 2), (3, 1)]
    assert queue.requeue_running() == 2
    assert queue.requeue_running() == 0


def test_next_due_in(queue: JobQueue, clock: Clock) -> None:
    assert queue.next_due_in() is None
    enqueue(queue, 1)
    assert queue.next_due_in() == 0.0
    [job] = queue.claim(1)
    assert queue.next_due_in() is None  # running jobs are not waiting
    queue.retry_later(job.id, "later", 30)
    assert queue.next_due_in() == pytest.approx(30)
    clock.now += 10
    assert queue.next_due_in() == pytest.approx(20)
    clock.now += 100
    assert queue.next_due_in() == 0.0


def test_oldest_queued_age_counts_queued_and_running(queue: JobQueue, clock: Clock) -> None:
    assert queue.oldest_queued_age() is None
    enqueue(queue, 1)
    clock.now += 5
    enqueue(queue, 2)
    clock.now += 10
    assert queue.oldest_queued_age() == pytest.approx(15)
    first, _ = queue.claim(2)
    assert queue.oldest_queued_age() == pytest.approx(15)
    queue.finish(first.id)
    assert queue.oldest_queued_age() == pytest.approx(10)


def test_jobs_newest_first_with_before_id(queue: JobQueue) -> None:
    enqueue(queue, 1, 2, 3, 4)
    ids = [j.id for j in queue.jobs()]
    assert ids == sorted(ids, reverse=True)
    assert [j.id for j in queue.jobs(limit=2, before_id=ids[1])] == ids[2:4]


def test_prune_forgets_only_finished_jobs(queue: JobQueue, clock: Clock) -> None:
    enqueue(queue, 1, 2, 3, 4)
    done, failed, running = queue.claim(3)
    queue.finish(done.id)
    queue.fail(failed.id, "refused")  # failed: kept for operators
    clock.now += 100
    assert queue.prune(T0 + 50) == 1
    assert {j.state for j in queue.jobs()} == {JobState.FAILED, JobState.RUNNING, JobState.QUEUED}
    assert running.id in {j.id for j in queue.jobs()}


def test_a_finished_job_keeps_no_trace_of_the_uploaders_file(tmp_path: Path) -> None:
    db = Database(tmp_path / "facegate.db")
    queue = JobQueue(db)
    name = "holiday-photo-of-jane-doe.jpg"
    attachment = {
        "path": f"download/2026/11/22/abc/{name}",
        "signedPath": f"dltemp/t/1/2026/11/22/abc/{name}",
    }
    row = {"Id": 1, "politician": "obama", "attachments": [attachment]}
    queue.enqueue([NewJob(row_key="t1:1:k", table_id="t1", row_id=1, row=row)], source="webhook")
    (job,) = queue.claim(1)
    queue.finish(job.id)
    assert state(queue, job.id).row == {"Id": 1, "politician": "obama"}
    db.checkpoint()  # what the retention task does after its deletions
    db.close()
    # Not just unlinked from the row: the bytes are gone from the database file and its log.
    for file in tmp_path.iterdir():
        assert name.encode() not in file.read_bytes(), file.name


def test_a_key_whose_row_left_nocodb_is_a_new_upload_when_seen_again(tmp_path: Path, clock: Clock) -> None:
    # NocoDB on SQLite reuses a deleted last row's Id: two rows without attachments created in the
    # same second share a key. The first was deleted; the second must be decided, from nothing.
    with fresh_stores(tmp_path / "facegate.db") as stores:
        enqueue(stores.queue, 1)
        (first,) = stores.queue.claim(1)
        key = first.row_key
        record = stores.decisions.record_decision(
            row_key=key,
            table_id="t1",
            row_id=1,
            politician="obama",
            decision=Decision.REJECTED,
            reason=Reason.NO_IMAGE,
            detail="",
            distances=[],
        )
        stores.decisions.record_action(record.id, Action.DELETED)
        stores.queue.finish(first.id, row_gone=True)
        assert stores.queue.enqueue([new(1)], source="sweep", listed_at=T0 - 1) == 0  # listed before
        clock.now += 1
        assert stores.queue.enqueue([new(1)], source="webhook") == 0  # a webhook's copy proves nothing
        assert stores.queue.enqueue([new(1)], source="sweep", listed_at=clock.now) == 1
        assert stores.decisions.decision_for(key) is None  # the new upload starts with nothing
        archived = stores.decisions.decision_for(f"{key}~{first.id}")
        assert archived is not None and archived.action is Action.DELETED
        (second,) = stores.queue.claim(1)
        assert second.row_key == key and second.id != first.id
        stores.queue.finish(second.id)  # approved: still in NocoDB, so seeing it again is a replay
        clock.now += 1
        assert stores.queue.enqueue([new(1)], source="sweep", listed_at=clock.now) == 0


def test_a_decided_row_that_nocodb_reports_deleted_can_come_back(queue: JobQueue, clock: Clock) -> None:
    enqueue(queue, 1, 2)
    for job in queue.claim(2):
        queue.finish(job.id)
    queue.mark_gone([new(1).row_key])
    clock.now += 1
    assert queue.enqueue([new(1), new(2)], source="sweep", listed_at=clock.now) == 1
    assert sorted(j.row_key for j in queue.jobs() if j.state is JobState.QUEUED) == [new(1).row_key]
