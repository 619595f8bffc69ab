"""The queue runner: an asyncio task that claims due jobs and decides up to ``concurrency`` rows at
a time. The pixel work happens in the face processes (``app.faces.pool``); NocoDB outages put a job
back in the queue with a bounded backoff; a row that must wait (``Held``) is held.

Claims are leases (``app.moderation.queue``): the runner renews those of its jobs in flight every
third of the lease, and a job whose lease was taken over (this instance stalled past it) is cancelled
before it acts again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from functools import partial

from app.errors import AnalysisFailed, DatabaseUnavailable, NotReady, ServiceError
from app.integrations.nocodb.errors import NocoDBRequestError, NocoDBUnavailable
from app.logs import current_job
from app.metrics import JOB_SECONDS, NOCODB_ERRORS
from app.moderation.holds import Alerts, Deferred, Held
from app.moderation.queue import WAITING_LONG_ATTEMPTS, Job, JobQueue, LeaseLost
from app.moderation.service import ModerationService

__all__ = ["QueueRunner", "backoff"]

log = logging.getLogger(__name__)

# Bounded backoff: 2, 4, 8 ... seconds, at most a minute; the job stays queued until NocoDB is back.
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 60.0
# A job whose face worker hangs or crashes again and again is a poison image: after this many tries
# its row is rejected (``analysis_failed``); another service error fails the job.
MAX_WORKER_CRASHES = 3
IDLE_POLL_SECONDS = 1.0
RUNNER_ERROR_PAUSE_SECONDS = 2.0


def backoff(attempts: int) -> float:
    return float(min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1)))


class QueueRunner:
    def __init__(
        self, *, queue: JobQueue, moderation: ModerationService, concurrency: int, wake: asyncio.Event
    ) -> None:
        self.queue = queue
        self.moderation = moderation
        self.concurrency = concurrency
        self.wake = wake  # set by whoever queues a job
        self._in_flight: dict[asyncio.Task[None], Job] = {}
        self._stopping = False
        self._loop: asyncio.Task[None] | None = None
        # Worker crashes per job, apart from attempts: waiting out a NocoDB outage is not a crash.
        self._crashes: Counter[int] = Counter()
        self.alerts = Alerts()  # each problem that holds rows, logged once
        # Jobs whose picture failed the face workers ``MAX_WORKER_CRASHES`` times, and the last reason.
        self._unanalysable: dict[int, str] = {}

    async def run(self) -> None:
        """Claim and run due jobs until ``stop``; a failing store is logged and retried, never fatal."""
        self._loop = asyncio.current_task()
        if not self.queue.db.shared:  # the only process: what is running was a stopped process's
            await asyncio.to_thread(self.queue.release_all)
        renewing = asyncio.create_task(self._renew_leases(), name="lease-renewal")
        try:
            while not self._stopping:
                try:
                    await self._step()
                except Exception:
                    log.exception("the queue runner failed; retrying in %.0f s", RUNNER_ERROR_PAUSE_SECONDS)
                    await asyncio.sleep(RUNNER_ERROR_PAUSE_SECONDS)
        finally:
            renewing.cancel()

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self.queue.lease_seconds / 3)
            in_flight = dict(self._in_flight)
            try:
                held = await asyncio.to_thread(self.queue.renew, list(in_flight.values()))
            except Exception:
                log.exception("renewing job leases failed; retried")
                continue
            for task, job in in_flight.items():
                if job.id not in held and not task.done():
                    log.warning("job %d was taken over by another instance; stopped here", job.id)
                    task.cancel()

    async def _step(self) -> None:
        free = self.concurrency - len(self._in_flight)
        if free <= 0:
            # Every slot is busy: a finished job sets ``wake``; the queue need not be asked meanwhile.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), IDLE_POLL_SECONDS)
            self.wake.clear()
            return
        jobs = await asyncio.to_thread(self.queue.claim, free)
        if self._stopping:
            return  # claimed during shutdown: ``stop`` hands them back to the queue
        for job in jobs:
            task = asyncio.create_task(self._run_one(job))
            self._in_flight[task] = job
            task.add_done_callback(self._done)
        if not jobs:
            due = await asyncio.to_thread(self.queue.next_due_in)
            timeout = IDLE_POLL_SECONDS if due is None else min(max(due, 0.05), IDLE_POLL_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout)
            self.wake.clear()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(task, None)
        self.wake.set()

    async def stop(self, grace_seconds: float) -> None:
        """Let in-flight jobs finish for ``grace_seconds``; the rest return to the queue."""
        self._stopping = True
        self.wake.set()
        if self._loop is not None:
            await asyncio.wait({self._loop}, timeout=grace_seconds)
        if self._in_flight:
            _, pending = await asyncio.wait(set(self._in_flight), timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.to_thread(self.queue.release_mine)

    async def _run_one(self, job: Job) -> None:
        token = current_job.set(job.id)
        try:
            with JOB_SECONDS.time():
                await self._process(job)
        except DatabaseUnavailable as exc:
            # Not even the job's state can be written: it stays claimed until its lease runs out, and
            # is claimed again (here or by another instance) once the database is back. Replaying it
            # is safe: each step is idempotent.
            log.warning("job %d waits for the database: %s", job.id, exc.message)
        finally:
            current_job.reset(token)

    async def _process(self, job: Job) -> None:
        try:
            action = await self.moderation.process(job, unanalysable=self._unanalysable.get(job.id))
        except NocoDBUnavailable as exc:
            NOCODB_ERRORS.labels(kind="unavailable").inc()
            delay = max(backoff(job.attempts), exc.retry_after or 0.0)
            # The job waits as long as the outage lasts (nothing is lost); past a bound, it is an alert.
            report = log.error if job.attempts >= WAITING_LONG_ATTEMPTS else log.warning
            report(
                "NocoDB unavailable, job %d (try %d) retried in %.0fs: %s",
                job.id,
                job.attempts,
                delay,
                exc.message,
            )
            await asyncio.to_thread(self.queue.retry_later, job, exc.message, delay)
            return
        except NocoDBRequestError as exc:
            NOCODB_ERRORS.labels(kind="refused").inc()
            log.error("NocoDB refused job %d: %s", job.id, exc.message)
            await asyncio.to_thread(self.queue.fail, job, exc.message)
            return
        except DatabaseUnavailable:
            raise  # not a crash of this job: ``_run_one`` leaves it to its lease
        except LeaseLost as exc:
            log.warning("%s It is left to that one.", exc)
            return
        except Deferred as exc:
            await asyncio.to_thread(self.queue.defer, job, exc.until, exc.detail)
            return
        except Held as exc:
            # Undecided and untouched until what holds it is fixed (``release_held``).
            self.alerts.held(exc)
            await asyncio.to_thread(self.queue.hold, job, exc.reason, exc.detail)
            return
        except NotReady as exc:
            await asyncio.to_thread(self.queue.retry_later, job, exc.message, backoff(job.attempts))
            return
        except AnalysisFailed as exc:
            await self._analysis_failed(job, exc)
            return
        except ServiceError as exc:
            self._crashes[job.id] += 1
            if self._crashes[job.id] >= MAX_WORKER_CRASHES:
                await asyncio.to_thread(self.queue.fail, job, exc.message)
            else:
                await asyncio.to_thread(self.queue.retry_later, job, exc.message, backoff(job.attempts))
            return
        except asyncio.CancelledError:
            raise  # shutdown (``release_mine`` hands it back) or taken over by another instance
        except Exception as exc:
            log.exception("job %d failed unexpectedly", job.id)
            await asyncio.to_thread(self.queue.fail, job, f"internal error: {type(exc).__name__}")
            return
        self._crashes.pop(job.id, None)
        self._unanalysable.pop(job.id, None)
        await asyncio.to_thread(partial(self.queue.finish, job, row_gone=action.row_left))

    async def _analysis_failed(self, job: Job, exc: AnalysisFailed) -> None:
        """A face worker hung or died on the job's picture (the pool restarted that worker alone).
        Tried again after a backoff; after ``MAX_WORKER_CRASHES`` such failures the job runs once
        more, at once, to reject its row: a picture that breaks the workers is never left undecided,
        nor tried for ever."""
        self._crashes[job.id] += 1
        crashes = self._crashes[job.id]
        given_up = crashes >= MAX_WORKER_CRASHES
        if given_up:
            self._unanalysable[job.id] = f"{exc.message} ({crashes} tries)"
        log.warning(
            "job %d: row %d, the face worker failed on its picture (%d of %d): %s",
            job.id,
            job.row_id,
            crashes,
            MAX_WORKER_CRASHES,
            exc.message,
        )
        delay = 0.0 if given_up else backoff(job.attempts)
        await asyncio.to_thread(self.queue.retry_later, job, exc.message, delay)
