"""The moderation queue (``jobs``): idempotent enqueue, claims and leases, retries, and what operators
see; on SQLite and on the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.db import Database
from app.moderation.backlog import BacklogStore
from app.moderation.queue import Job, JobQueue, JobState, NewJob
from app.outcomes import Action, Decision, HoldReason, Reason
from tests.utils.clock import T0, Clock
from tests.utils.stores import Stores

pytestmark = pytest.mark.both_backends

LEASE = 60.0


@pytest.fixture
def queue(database: Path | str, clock: Clock) -> Iterator[JobQueue]:
    db = Database(database, clock=clock.time)
    yield JobQueue(db, lease_seconds=LEASE)
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
    assert queue.counts() == {"queued": 0, "running": 3, "done": 0, "failed": 0, "held": 0}
    assert state(queue, first[0].id).attempts == 1


def test_claim_respects_next_attempt_at(queue: JobQueue, clock: Clock) -> None:
    enqueue(queue, 1, 2)
    job, other = queue.claim(2)
    queue.retry_later(job, "NocoDB down", 30)
    queue.finish(other)
    assert queue.claim(10) == []
    clock.now += 29.9
    assert queue.claim(10) == []
    clock.now += 0.1
    [again] = queue.claim(10)
    assert again.id == job.id and again.attempts == 2 and again.last_error == "NocoDB down"


def test_finish_fail_retry_later_set_state_and_error(queue: JobQueue) -> None:
    enqueue(queue, 1, 2, 3)
    a, b, c = queue.claim(3)
    queue.finish(a)
    queue.fail(b, "refused: 403")
    queue.retry_later(c, "timeout", 60)
    assert (state(queue, a.id).state, state(queue, a.id).last_error) == (JobState.DONE, None)
    assert (state(queue, b.id).state, state(queue, b.id).last_error) == (JobState.FAILED, "refused: 403")
    assert (state(queue, c.id).state, state(queue, c.id).last_error) == (JobState.QUEUED, "timeout")
    assert queue.counts() == {"queued": 1, "running": 0, "done": 1, "failed": 1, "held": 0}
    assert [j.row_id for j in queue.jobs(state=JobState.FAILED)] == [2]


def test_release_mine_hands_back_only_this_instances_jobs(queue: JobQueue) -> None:
    other = JobQueue(queue.db, lease_seconds=LEASE)  # a second instance on the same database
    enqueue(queue, 1, 2, 3, 4)
    a, _ = queue.claim(2)
    (theirs,) = other.claim(1)
    queue.finish(a)
    assert queue.release_mine() == 1
    assert queue.counts() == {"queued": 2, "running": 1, "done": 1, "failed": 0, "held": 0}
    assert [(j.row_id, j.attempts) for j in queue.claim(10)] == [(2, 2), (4, 1)]
    assert other.finish(theirs)  # its claim is untouched
    assert queue.release_mine() == 2
    assert queue.release_mine() == 0


def test_a_lease_that_is_not_renewed_passes_to_another_instance(queue: JobQueue, clock: Clock) -> None:
    other = JobQueue(queue.db, lease_seconds=LEASE)
    enqueue(queue, 1, 2)
    dead, alive = queue.claim(2)
    assert other.claim(10) == []  # both are held
    clock.now += LEASE / 2
    assert queue.renew([alive]) == {alive.id}  # the runner renews the one it still runs
    assert queue.next_due_in() == pytest.approx(LEASE / 2)  # the unrenewed lease runs out then
    clock.now += LEASE / 2 + 0.1
    (taken,) = other.claim(10)
    assert taken.id == dead.id and taken.attempts == 2 and taken.lease != dead.lease
    # The old claim may not act any further: not renewed, not finished, not failed.
    assert queue.renew([dead]) == set()
    assert not queue.finish(dead) and not queue.fail(dead, "late") and not queue.retry_later(dead, "x", 1)
    assert other.finish(taken)
    assert state(queue, dead.id).state is JobState.DONE


def test_release_all_is_for_a_database_of_one_process(queue: JobQueue) -> None:
    enqueue(queue, 1, 2)
    queue.claim(2)
    if queue.db.shared:
        with pytest.raises(AssertionError):
            queue.release_all()
    else:
        assert queue.release_all() == 2
        assert queue.counts()["queued"] == 2


def test_concurrent_claims_never_share_a_job(queue: JobQueue) -> None:
    # Instances claiming at the same moment: every job goes to exactly one of them.
    import concurrent.futures

    instances = [JobQueue(queue.db, lease_seconds=LEASE) for _ in range(4)]
    queue.enqueue([new(n) for n in range(200)], source="webhook")

    def drain(q: JobQueue) -> list[int]:
        taken: list[int] = []
        while batch := q.claim(7):
            taken += [job.id for job in batch]
        return taken

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        taken = [job_id for ids in pool.map(drain, instances) for job_id in ids]
    assert len(taken) == 200 and len(set(taken)) == 200


def test_next_due_in(queue: JobQueue, clock: Clock) -> None:
    assert queue.next_due_in() is None
    enqueue(queue, 1)
    assert queue.next_due_in() == 0.0
    [job] = queue.claim(1)
    assert queue.next_due_in() == pytest.approx(LEASE)  # running: due again only if its lease runs out
    queue.retry_later(job, "later", 30)
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
    queue.finish(first)
    assert queue.oldest_queued_age() == pytest.approx(10)


def test_jobs_newest_first_with_before_id(queue: JobQueue) -> None:
    enqueue(queue, 1, 2, 3, 4)
    ids = [j.id for j in queue.jobs()]
    assert ids == sorted(ids, reverse=True)
    assert [j.id for j in queue.jobs(limit=2, before_id=ids[1])] == ids[2:4]


def test_prune_forgets_only_finished_jobs(queue: JobQueue, clock: Clock) -> None:
    enqueue(queue, 1, 2, 3, 4)
    done, failed, running = queue.claim(3)
    queue.finish(done)
    queue.fail(failed, "refused")  # failed: kept for operators
    clock.now += 100
    assert queue.prune(T0 + 50) == 1
    assert {j.state for j in queue.jobs()} == {JobState.FAILED, JobState.RUNNING, JobState.QUEUED}
    assert running.id in {j.id for j in queue.jobs()}


def test_a_finished_job_keeps_no_trace_of_the_uploaders_file(tmp_path: Path, backend: str) -> None:
    if backend != "sqlite":
        return  # the bytes of a file: SQLite's (PostgreSQL's deletions: README, "Privacy")
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
    queue.finish(job)
    assert state(queue, job.id).row == {"Id": 1, "politician": "obama"}
    db.checkpoint()  # what the retention task does after its deletions
    db.close()
    # Not just unlinked from the row: the bytes are gone from the database file and its log.
    for file in tmp_path.iterdir():
        assert name.encode() not in file.read_bytes(), file.name


def test_a_key_whose_row_left_nocodb_is_a_new_upload_when_seen_again(stores: Stores, clock: Clock) -> None:
    # NocoDB on SQLite reuses a deleted last row's Id: two rows without attachments created in the
    # same second share a key. The first was deleted; the second must be decided, from nothing.
    if True:
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
        stores.queue.finish(first, row_gone=True)
        assert stores.queue.enqueue([new(1)], source="sweep", listed_at=T0 - 1) == 0  # listed before
        clock.now += 1
        assert stores.queue.enqueue([new(1)], source="webhook") == 0  # a webhook's copy proves nothing
        assert stores.queue.enqueue([new(1)], source="sweep", listed_at=clock.now) == 1
        assert stores.decisions.decision_for(key) is None  # the new upload starts with nothing
        archived = stores.decisions.decision_for(f"{key}~{first.id}")
        assert archived is not None and archived.action is Action.DELETED
        (second,) = stores.queue.claim(1)
        assert second.row_key == key and second.id != first.id
        stores.queue.finish(second)  # approved: still in NocoDB, so seeing it again is a replay
        clock.now += 1
        assert stores.queue.enqueue([new(1)], source="sweep", listed_at=clock.now) == 0


def test_a_decided_row_that_nocodb_reports_deleted_can_come_back(queue: JobQueue, clock: Clock) -> None:
    enqueue(queue, 1, 2)
    for job in queue.claim(2):
        queue.finish(job)
    queue.mark_gone([new(1).row_key])
    clock.now += 1
    assert queue.enqueue([new(1), new(2)], source="sweep", listed_at=clock.now) == 1
    assert sorted(j.row_key for j in queue.jobs() if j.state is JobState.QUEUED) == [new(1).row_key]


def test_held_jobs_wait_untouched_until_released_by_reason(queue: JobQueue, clock: Clock) -> None:
    enqueue(queue, 1, 2, 3)
    first, second, third = queue.claim(3)
    assert queue.hold(first, HoldReason.BACKLOG, "before the attach")
    clock.now += 5
    assert queue.hold(second, HoldReason.UNKNOWN_OPTION, "no politician 'Jane Doe'")
    assert queue.claim(3) == []  # held jobs are not due
    assert [(h.row_id, h.reason, h.since) for h in queue.held()] == [
        (1, HoldReason.BACKLOG, T0),
        (2, HoldReason.UNKNOWN_OPTION, T0 + 5),
    ]
    counts = queue.held_counts()
    assert counts["backlog"] == 1 and counts["unknown_option"] == 1 and sum(counts.values()) == 2
    # A reload fixes the missing politician, not the backlog.
    assert queue.release_held([HoldReason.UNKNOWN_OPTION]) == 1
    (again,) = queue.claim(3)
    assert again.id == second.id and state(queue, first.id).state == JobState.HELD
    # Held again for the same reason: it keeps the time it was first held.
    clock.now += 5
    assert queue.hold(again, HoldReason.UNKNOWN_OPTION, "still no politician 'Jane Doe'")
    assert [h.since for h in queue.held()] == [T0, T0 + 5]
    assert queue.release_held() == 2 and queue.held() == []
    assert {j.id for j in queue.claim(3)} == {first.id, second.id}
    assert queue.finish(third) and state(queue, third.id).state == JobState.DONE


def test_a_backlog_confirmation_is_recorded_once(stores: Stores) -> None:
    confirmations = BacklogStore(stores.db)
    assert not confirmations.confirmed("t1", T0)
    assert confirmations.confirm("t1", T0)
    assert not confirmations.confirm("t1", T0)  # already recorded
    assert confirmations.confirmed("t1", T0) and not confirmations.confirmed("t1", T0 + 1)
    assert not confirmations.confirmed("t2", T0)


def test_a_backlog_cutoff_is_recorded_and_outlives_a_setting_left_out(
    stores: Stores, caplog: pytest.LogCaptureFixture
) -> None:
    # A second instance, or a settings file written again, without FACEGATE_BACKLOG_BEFORE: the cut-off
    # recorded when facegate first ran with it is kept, so the backlog is never decided unseen.
    store = BacklogStore(stores.db)
    first = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert store.cutoff("t1", None, record=True) is None  # no backlog, nothing recorded
    assert store.cutoff("t1", first, record=True) == first
    assert store.cutoff("t1", None, record=True) == first
    assert "is kept, as FACEGATE_BACKLOG_BEFORE is unset" in caplog.text
    assert store.cutoff("t1", first - timedelta(days=1), record=True) == first  # earlier: the later kept
    later = first + timedelta(hours=1)
    assert store.cutoff("t1", later, record=False) == later  # read only: not recorded
    assert store.cutoff("t1", None, record=False) == first
    assert store.cutoff("t1", later, record=True) == later
    assert store.cutoff("t1", None, record=False) == later
    assert store.cutoff("t2", None, record=False) is None
