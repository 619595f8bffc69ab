"""The queue runner and the sweep: asyncio tasks in the app's process.

The runner claims due jobs and decides up to ``concurrency`` rows at a time; the pixel work happens
in the face worker processes. The sweep lists NocoDB rows whose status is blank and queues the ones
facegate has not seen, so rows inserted while facegate was down (NocoDB never re-sends a webhook)
are decided too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable

from app.errors import NotReady, ServiceError
from app.integrations.nocodb.client import NocoDBClient
from app.integrations.nocodb.errors import NocoDBRequestError, NocoDBUnavailable
from app.logs import current_job
from app.metrics import JOB_SECONDS, NOCODB_ERRORS
from app.moderation.rows import FieldNames, new_job, parse_row, row_key
from app.moderation.service import APPROVED_STATUS, ModerationService
from app.moderation.store import Job, Store

log = logging.getLogger(__name__)

# Bounded backoff: 2, 4, 8 ... seconds, at most a minute; the job stays queued until NocoDB is back.
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 60.0
# A job whose face worker crashes again and again is a poison image: give up after this many tries.
MAX_WORKER_CRASHES = 3
IDLE_POLL_SECONDS = 1.0
SWEEP_RETRY_SECONDS = 15.0
RUNNER_ERROR_PAUSE_SECONDS = 2.0
MAX_APPROVALS_REMOVED_AT_ONCE = 20


def backoff(attempts: int) -> float:
    return float(min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1)))


class QueueRunner:
    def __init__(self, *, store: Store, moderation: ModerationService, concurrency: int) -> None:
        self.store = store
        self.moderation = moderation
        self.concurrency = concurrency
        self.wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._loop: asyncio.Task[None] | None = None
        # Worker crashes per job, apart from attempts: waiting out a NocoDB outage is not a crash.
        self._crashes: Counter[int] = Counter()

    async def run(self) -> None:
        """Claim and run due jobs until ``stop``; a failing store is logged and retried, never fatal."""
        self._loop = asyncio.current_task()
        await asyncio.to_thread(self.store.requeue_running)
        while not self._stopping:
            try:
                await self._step()
            except Exception:
                log.exception("the queue runner failed; retrying in %.0f s", RUNNER_ERROR_PAUSE_SECONDS)
                await asyncio.sleep(RUNNER_ERROR_PAUSE_SECONDS)

    async def _step(self) -> None:
        free = self.concurrency - len(self._in_flight)
        jobs = await asyncio.to_thread(self.store.claim, free) if free > 0 else []
        if self._stopping:
            return  # claimed during shutdown: ``stop`` hands them back to the queue
        for job in jobs:
            task = asyncio.create_task(self._run_one(job))
            self._in_flight.add(task)
            task.add_done_callback(self._done)
        if not jobs:
            due = await asyncio.to_thread(self.store.next_due_in)
            timeout = IDLE_POLL_SECONDS if due is None else min(max(due, 0.05), IDLE_POLL_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout)
            self.wake.clear()

    @property
    def alive(self) -> bool:
        return self._loop is not None and not self._loop.done()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
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
        await asyncio.to_thread(self.store.requeue_running)

    async def _run_one(self, job: Job) -> None:
        token = current_job.set(job.id)
        try:
            with JOB_SECONDS.time():
                await self._process(job)
        finally:
            current_job.reset(token)

    async def _process(self, job: Job) -> None:
        try:
            await self.moderation.process(job)
        except NocoDBUnavailable as exc:
            NOCODB_ERRORS.labels(kind="unavailable").inc()
            delay = max(backoff(job.attempts), exc.retry_after or 0.0)
            log.warning("NocoDB unavailable, job %d retried in %.0fs: %s", job.id, delay, exc.message)
            await asyncio.to_thread(self.store.retry_later, job.id, exc.message, delay)
            return
        except NocoDBRequestError as exc:
            NOCODB_ERRORS.labels(kind="refused").inc()
            log.error("NocoDB refused job %d: %s", job.id, exc.message)
            await asyncio.to_thread(self.store.fail, job.id, exc.message)
            return
        except NotReady as exc:
            await asyncio.to_thread(self.store.retry_later, job.id, exc.message, backoff(job.attempts))
            return
        except ServiceError as exc:
            self._crashes[job.id] += 1
            if self._crashes[job.id] >= MAX_WORKER_CRASHES:
                await asyncio.to_thread(self.store.fail, job.id, exc.message)
            else:
                await asyncio.to_thread(self.store.retry_later, job.id, exc.message, backoff(job.attempts))
            return
        except asyncio.CancelledError:
            raise  # shutdown: requeue_running hands it back
        except Exception as exc:
            log.exception("job %d failed unexpectedly", job.id)
            await asyncio.to_thread(self.store.fail, job.id, f"internal error: {type(exc).__name__}")
            return
        self._crashes.pop(job.id, None)
        await asyncio.to_thread(self.store.finish, job.id)


class Sweeper:
    """Queues the undecided rows (blank status) that no webhook brought, and drops the approvals of
    rows that a moderator deleted in NocoDB since."""

    def __init__(
        self,
        *,
        store: Store,
        nocodb: NocoDBClient,
        table_id: str,
        fields: FieldNames,
        runner: QueueRunner,
        on_approvals_removed: Callable[[list[int]], None] = lambda ids: None,
    ) -> None:
        self.store = store
        self.nocodb = nocodb
        self.table_id = table_id
        self.fields = fields
        self.runner = runner
        self.on_approvals_removed = on_approvals_removed

    async def sweep(self) -> int:
        """One pass over the undecided rows; returns how many were queued."""
        where = f"({self.fields.status},blank)"
        wanted = ["Id", "CreatedAt", self.fields.politician, self.fields.image, self.fields.status]
        queued = 0
        batch = []
        async for raw in self.nocodb.iter_rows(self.table_id, where=where, fields=wanted):
            try:
                batch.append(new_job(self.table_id, parse_row(raw, self.fields)))
            except ValueError:
                continue
            if len(batch) >= 500:
                queued += await asyncio.to_thread(self.store.enqueue, batch, source="sweep")
                batch = []
        if batch:
            queued += await asyncio.to_thread(self.store.enqueue, batch, source="sweep")
        if queued:
            log.info("sweep queued %d undecided rows", queued)
            self.runner.wake.set()
        return queued

    async def sweep_approvals(self) -> int:
        """Drop approvals whose row is no longer approved in NocoDB; returns how many."""
        live = await asyncio.to_thread(self.store.live_approval_keys, self.table_id)
        live_before = dict(live)
        if not live:
            return 0
        where = f"({self.fields.status},eq,{APPROVED_STATUS})"
        wanted = ["Id", "CreatedAt", self.fields.image]
        async for raw in self.nocodb.iter_rows(self.table_id, where=where, fields=wanted):
            try:
                live.pop(row_key(self.table_id, parse_row(raw, self.fields)), None)
            except ValueError:
                continue
        removed = list(live.values())
        if len(removed) > MAX_APPROVALS_REMOVED_AT_ONCE and len(removed) * 2 > len(live_before):
            # Most of the carousel vanishing at once is more likely a changed NocoDB than moderators.
            log.error(
                "approvals sweep would remove %d of %d approved uploads; skipped, check NocoDB",
                len(removed),
                len(live_before),
            )
            return 0
        if removed:
            await asyncio.to_thread(self.store.remove_approvals, removed)
            await asyncio.to_thread(self.on_approvals_removed, removed)
            log.info("%d approved uploads are gone from NocoDB; removed from the carousel", len(removed))
        return len(removed)

    async def run(self, interval: float) -> None:
        """Sweep now, then every ``interval`` seconds (0: only now)."""
        while True:
            try:
                await self.sweep()
                await self.sweep_approvals()
            except Exception as exc:
                # Even with the periodic sweep off, the start-up sweep must happen once NocoDB is back;
                # nothing NocoDB answers may end the sweeper for the rest of the process's life.
                log.warning("sweep failed, retried later: %s", getattr(exc, "message", type(exc).__name__))
                await asyncio.sleep(
                    min(interval, SWEEP_RETRY_SECONDS) if interval > 0 else SWEEP_RETRY_SECONDS
                )
                continue
            if interval <= 0:
                return
            await asyncio.sleep(interval)
