"""The queue runner's handling of each outcome, with a stand-in for the moderation service."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.db import Database
from app.errors import NotReady, ServiceError
from app.integrations.nocodb.errors import NocoDBRequestError, NocoDBUnavailable
from app.moderation.queue import WAITING_LONG_ATTEMPTS, Job, JobQueue, JobState, NewJob
from app.moderation.runner import BACKOFF_MAX_SECONDS, MAX_WORKER_CRASHES, QueueRunner, backoff
from app.outcomes import Action


class Outcome:
    """``process`` raises the given exceptions in turn, then succeeds."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.processed: list[int] = []

    async def process(self, job: Job) -> Action:
        self.processed.append(job.id)
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


def _runner(queue: JobQueue, outcome: Outcome, concurrency: int = 2) -> QueueRunner:
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
        assert runner.alive
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
