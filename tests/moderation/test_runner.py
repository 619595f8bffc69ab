"""The queue runner's handling of each outcome, with a stand-in for the moderation service."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.db import Database
from app.errors import AnalysisFailed, DatabaseUnavailable, NotReady, ServiceError
from app.integrations.nocodb.errors import NocoDBRequestError, NocoDBUnavailable
from app.moderation.holds import Deferred
from app.moderation.queue import WAITING_LONG_ATTEMPTS, Job, JobQueue, JobState, NewJob
from app.moderation.runner import BACKOFF_MAX_SECONDS, MAX_WORKER_CRASHES, QueueRunner, backoff
from app.outcomes import Action
from app.tables import jobs


class Outcome:
    """``process`` raises the given exceptions in turn, then succeeds; ``unanalysable`` records what
    the runner passed on each call."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.processed: list[int] = []
        self.unanalysable: list[str | None] = []

    async def process(self, job: Job, *, unanalysable: str | None = None) -> Action:
        self.processed.append(job.id)
        self.unanalysable.append(unanalysable)
        if unanalysable is not None:
            return Action.DELETED  # the row is rejected, not analysed again
        if self.errors:
            raise self.errors.pop(0)
        return Action.APPROVED


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[JobQueue]:
    db = Database(tmp_path / "q.db")
    queue = JobQueue(db)
    queue.enqueue([NewJob("k1", "t", 1, {"Id": 1})], source="test")
    yield queue
    db.close()


def _runner(queue: JobQueue, outcome: Outcome | Slow, concurrency: int = 2) -> QueueRunner:
    return QueueRunner(
        queue=queue,
        moderation=outcome,  # type: ignore[arg-type]
        concurrency=concurrency,
        wake=asyncio.Event(),
    )


def _run_once(queue: JobQueue, outcome: Outcome, runner: QueueRunner | None = None) -> Job:
    runner = runner or _runner(queue, outcome)
    (job,) = queue.claim(1)
    asyncio.run(runner._run_one(job))
    (after,) = queue.jobs()
    return after


def test_success_finishes_the_job(queue: JobQueue) -> None:
    assert _run_once(queue, Outcome()).state is JobState.DONE


@pytest.mark.parametrize("error", [NocoDBUnavailable("down"), NotReady("loading")])
def test_operational_errors_keep_the_job_queued(queue: JobQueue, error: Exception) -> None:
    job = _run_once(queue, Outcome(error))
    assert job.state is JobState.QUEUED and job.last_error
    assert queue.next_due_in() is not None and queue.next_due_in() > 1  # type: ignore[operator]


def test_a_long_outage_waits_and_alerts(queue: JobQueue, caplog: pytest.LogCaptureFixture) -> None:
    outcome = Outcome(*[NocoDBUnavailable("down")] * WAITING_LONG_ATTEMPTS)
    runner = _runner(queue, outcome)
    for attempt in range(1, WAITING_LONG_ATTEMPTS + 1):
        with queue.db.tx() as db:
            db.exec_driver_sql("UPDATE jobs SET next_attempt_at = 0")  # due now, not after the backoff
        job = _run_once(queue, outcome, runner)
        assert job.state is JobState.QUEUED  # never given up on: nothing is lost
        assert queue.waiting_long() == (1 if attempt >= WAITING_LONG_ATTEMPTS else 0)
    assert [r.levelname for r in caplog.records][-2:] == ["WARNING", "ERROR"]


def test_a_deferred_job_waits_queued_until_its_time_and_an_update_brings_it_forward(queue: JobQueue) -> None:
    until = queue.db.clock() + 600
    job = _run_once(queue, Outcome(Deferred(until, "rejected by a moderator: deleted later")))
    assert (job.state, job.attempts, job.last_error) == (
        JobState.QUEUED,
        0,
        "rejected by a moderator: deleted later",
    )
    assert 590 < queue.next_due_in() <= 600  # type: ignore[operator]
    assert queue.claim(1) == []
    assert queue.recheck(["k1"]) == 1  # the row changed in NocoDB: its Status may be changed back
    assert queue.next_due_in() == 0


def test_refused_request_fails_the_job_for_operators(queue: JobQueue) -> None:
    job = _run_once(queue, Outcome(NocoDBRequestError("refused: 403", status_code=403)))
    assert job.state is JobState.FAILED and job.last_error == "refused: 403"


def test_a_worker_crash_is_retried_then_given_up(queue: JobQueue) -> None:
    outcome = Outcome(NocoDBUnavailable("down"), *[ServiceError("worker died")] * MAX_WORKER_CRASHES)
    runner = _runner(queue, outcome)
    for attempt in range(1, MAX_WORKER_CRASHES + 2):
        with queue.db.tx() as db:
            db.exec_driver_sql("UPDATE jobs SET next_attempt_at = 0")
        job = _run_once(queue, outcome, runner)
        assert job.attempts == attempt
        # The NocoDB outage of the first attempt does not count as a crash.
        assert job.state is (JobState.FAILED if attempt == MAX_WORKER_CRASHES + 1 else JobState.QUEUED)


def test_a_picture_that_fails_the_workers_is_retried_then_its_row_rejected(queue: JobQueue) -> None:
    failed = AnalysisFailed("Analysing the image took more than 60 s.")
    outcome = Outcome(NocoDBUnavailable("down"), *[failed] * MAX_WORKER_CRASHES)
    runner = _runner(queue, outcome)
    for _ in range(MAX_WORKER_CRASHES + 1):  # the outage, then each failure of the picture
        with queue.db.tx() as db:
            db.exec_driver_sql("UPDATE jobs SET next_attempt_at = 0")
        job = _run_once(queue, outcome, runner)
        assert job.state is JobState.QUEUED and job.last_error
    # The last failure makes the job due at once, to reject its row: never failed, never undecided.
    assert queue.next_due_in() == 0
    job = _run_once(queue, outcome, runner)
    assert job.state is JobState.DONE
    assert outcome.unanalysable[:-1] == [None] * (MAX_WORKER_CRASHES + 1)
    assert outcome.unanalysable[-1] == f"{failed.message} ({MAX_WORKER_CRASHES} tries)"


def test_a_failing_store_does_not_end_the_runner(queue: JobQueue, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    from app.moderation import runner as module

    monkeypatch.setattr(module, "RUNNER_ERROR_PAUSE_SECONDS", 0.01)
    calls = 0
    real_claim = queue.claim

    def flaky_claim(limit: int) -> list[Job]:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise sqlite3.OperationalError("database is locked")
        return real_claim(limit)

    monkeypatch.setattr(queue, "claim", flaky_claim)

    async def scenario() -> None:
        runner = _runner(queue, Outcome(), concurrency=1)
        task = asyncio.create_task(runner.run())
        for _ in range(100):
            if queue.counts()["done"] == 1:
                break
            await asyncio.sleep(0.02)
        assert not task.done()  # the loop outlived the locked database
        await runner.stop(1.0)
        await asyncio.wait_for(task, 2)

    asyncio.run(scenario())
    assert queue.counts()["done"] == 1 and calls > 2


def test_backoff_is_bounded() -> None:
    assert [backoff(n) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert backoff(50) == BACKOFF_MAX_SECONDS


def test_runner_drains_the_queue_and_stops_cleanly(queue: JobQueue) -> None:
    queue.enqueue([NewJob(f"k{i}", "t", i, {"Id": i}) for i in range(2, 6)], source="test")
    outcome = Outcome()

    async def scenario() -> None:
        runner = _runner(queue, outcome)
        task = asyncio.create_task(runner.run())
        for _ in range(100):
            if queue.counts()["done"] == 5:
                break
            await asyncio.sleep(0.05)
        await runner.stop(1.0)
        await asyncio.wait_for(task, 2)

    asyncio.run(scenario())
    assert queue.counts()["done"] == 5
    assert sorted(outcome.processed) == [1, 2, 3, 4, 5]


class Slow:
    """``process`` takes ``seconds``; records whether it finished or was cancelled."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.finished: list[int] = []
        self.cancelled: list[int] = []

    async def process(self, job: Job, *, unanalysable: str | None = None) -> Action:
        try:
            await asyncio.sleep(self.seconds)
        except asyncio.CancelledError:
            self.cancelled.append(job.id)
            raise
        self.finished.append(job.id)
        return Action.APPROVED


def _while_running(runner: QueueRunner, during: Callable[[], bool]) -> None:
    """Run the runner; once it has a job in flight, call ``during`` every 0.1 s (in a thread) until it
    returns True, then stop the runner. Bounded by a deadline, not by how fast a loaded machine is."""

    async def main() -> None:
        task = asyncio.create_task(runner.run())
        deadline = asyncio.get_running_loop().time() + 20
        while not runner._in_flight:
            assert asyncio.get_running_loop().time() < deadline, "no job was claimed"
            await asyncio.sleep(0.02)
        while not await asyncio.to_thread(during):
            assert asyncio.get_running_loop().time() < deadline, "the expected outcome never came"
            await asyncio.sleep(0.1)
        await runner.stop(grace_seconds=5)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_leases_of_jobs_in_flight_are_renewed(tmp_path: Path) -> None:
    db = Database(tmp_path / "q.db")
    queue = JobQueue(db, lease_seconds=1.0)
    queue.enqueue([NewJob("k1", "t", 1, {"Id": 1})], source="test")
    other = JobQueue(db, lease_seconds=1.0)  # another instance, trying all along
    slow = Slow(3.0)  # three leases long
    taken: list[Job] = []

    def try_to_take() -> bool:
        taken.extend(other.claim(5))
        return bool(slow.finished)

    _while_running(_runner(queue, slow), try_to_take)
    assert taken == [] and slow.finished == [1]
    assert [j.state for j in queue.jobs()] == [JobState.DONE]
    db.close()


def test_a_job_taken_over_by_another_instance_is_stopped_here(tmp_path: Path) -> None:
    db = Database(tmp_path / "q.db")
    queue = JobQueue(db, lease_seconds=0.6)
    queue.enqueue([NewJob("k1", "t", 1, {"Id": 1})], source="test")
    slow = Slow(30.0)
    stalled: list[Job] = []

    def stall_then_wait() -> bool:
        if not stalled:
            # As if this instance had stalled longer than its lease and another had claimed the job.
            with db.tx() as conn:
                conn.execute(sa.update(jobs).values(lease_until=0.0))
            stalled.extend(JobQueue(db).claim(1))
        return bool(slow.cancelled)

    _while_running(_runner(queue, slow), stall_then_wait)
    assert [job.attempts for job in stalled] == [2]
    assert slow.cancelled == [1] and slow.finished == []
    (job,) = queue.jobs()
    assert job.state is JobState.RUNNING and job.lease is not None
    assert not job.lease.startswith(queue.instance)  # the other instance's claim
    db.close()


def test_a_database_outage_leaves_the_job_to_its_lease(tmp_path: Path) -> None:
    db = Database(tmp_path / "q.db")
    queue = JobQueue(db, lease_seconds=60)
    queue.enqueue([NewJob("k1", "t", 1, {"Id": 1})], source="test")
    (job,) = queue.claim(1)
    asyncio.run(_runner(queue, Outcome(DatabaseUnavailable("down")))._run_one(job))
    (after,) = queue.jobs()
    assert after.state is JobState.RUNNING and after.lease == job.lease  # not lost, not failed
    with db.tx() as conn:
        conn.execute(sa.update(jobs).values(lease_until=0.0))  # the lease runs out
    (again,) = queue.claim(1)
    assert again.id == job.id and again.attempts == 2
    db.close()
