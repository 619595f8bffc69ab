"""The sweep: NocoDB never re-sends a webhook, so rows inserted or changed while facegate was down,
or whose webhook was lost, are found by listing the table and queuing the uploads facegate has not
seen (a row whose attachments changed is a new upload). The Status cell is not trusted to say what was
decided: anyone who can write a row can write it. Once facegate has decided a row, though, its Status
is the moderators' (the public form cannot change a row): the sweep queues decided rows whose Status
a moderator set to ``approved`` (not on the carousel) or ``rejected`` again, for the moderation loop
to follow. It also tells the uploads' lifecycle (``app.moderation.lifecycle``) which rows are still
approved in NocoDB, and queues again backlog rows still held once the operator has confirmed the
backlog (``app.moderation.backlog``).

After a loss of facegate's database (or on a second server), every row is an upload facegate has not
seen: the sweep queues them all, and moderation restores, rather than decides, each row whose stamp
says facegate decided it (``app.moderation.restore``).
"""

from __future__ import annotations

import asyncio
import logging

from app.carousel.service import Carousel
from app.config import FieldNames
from app.integrations.nocodb.client import NocoDBClient
from app.moderation.act import APPROVED_STATUS, REJECTED_STATUS
from app.moderation.backlog import Backlog
from app.moderation.decisions import DecisionLog
from app.moderation.lifecycle import UploadLifecycle
from app.moderation.queue import JobQueue, NewJob
from app.moderation.rows import UploadRow, new_job, parse_row, row_key
from app.outcomes import Decision

__all__ = ["Sweeper"]

log = logging.getLogger(__name__)

SWEEP_RETRY_SECONDS = 15.0
ENQUEUE_BATCH = 500


class Sweeper:
    """Queues the uploads that no webhook brought, and tells the uploads' lifecycle the rows still
    approved in NocoDB (a moderator may have deleted some)."""

    def __init__(
        self,
        *,
        queue: JobQueue,
        decisions: DecisionLog,
        nocodb: NocoDBClient,
        table_id: str,
        fields: FieldNames,
        carousel: Carousel,
        lifecycle: UploadLifecycle,
        wake: asyncio.Event,
        backlog: Backlog | None = None,
    ) -> None:
        self.queue = queue
        self.decisions = decisions
        self.nocodb = nocodb
        self.table_id = table_id
        self.fields = fields
        self.carousel = carousel
        self.lifecycle = lifecycle
        self.wake = wake
        self.backlog = backlog

    async def sweep(self) -> int:
        """One pass over the table; returns how many rows were queued (new uploads, and decided rows
        a moderator settled, and backlog rows held a moment before the backlog was confirmed)."""
        # First, as it asks nothing of NocoDB (which may be down): a confirmed backlog's held rows.
        queued = await self.backlog.release_if_confirmed() if self.backlog is not None else 0
        wanted = ["Id", "CreatedAt", *self.fields.columns()]
        # Shown on the carousel: decided, even once retention has forgotten the job.
        shown = await self.carousel.shown_keys(self.table_id)
        # A row that left NocoDB while the pass listed it is not a new upload under its old key.
        listed_at = self.queue.db.clock()
        page: list[tuple[NewJob, UploadRow]] = []
        async for raw in self.nocodb.iter_rows(self.table_id, where="(Id,gt,0)", fields=wanted):
            try:
                row = parse_row(raw, self.fields)
            except ValueError:
                continue
            page.append((new_job(self.table_id, row), row))
            if len(page) >= ENQUEUE_BATCH:
                queued += await asyncio.to_thread(self._queue_page, page, shown, listed_at)
                page = []
        if page:
            queued += await asyncio.to_thread(self._queue_page, page, shown, listed_at)
        if queued:
            log.info("sweep queued %d rows", queued)
            self.wake.set()
        return queued

    def _queue_page(self, page: list[tuple[NewJob, UploadRow]], shown: set[str], listed_at: float) -> int:
        fresh = [job for job, _ in page if job.row_key not in shown]
        queued = self.queue.enqueue(fresh, source="sweep", listed_at=listed_at)
        status = {job.row_key: (row.status or "").strip().lower() for job, row in page}
        settled = self.decisions.settled_many(
            [k for k, s in status.items() if s in (APPROVED_STATUS, REJECTED_STATUS)]
        )
        moderated = [
            key
            for key, record in settled.items()
            if (status[key] == APPROVED_STATUS and key not in shown)
            or (status[key] == REJECTED_STATUS and record.decision is not Decision.REJECTED)
        ]
        return queued + (self.queue.recheck(moderated) if moderated else 0)

    async def sweep_approvals(self) -> int:
        """Tell the uploads' lifecycle which rows NocoDB still shows as approved; returns how many
        uploads left the carousel."""
        if not await self.carousel.shows_any(self.table_id):
            return 0
        where = f"({self.fields.status},eq,{APPROVED_STATUS})"
        wanted = ["Id", "CreatedAt", self.fields.image]
        approved: set[str] = set()
        async for raw in self.nocodb.iter_rows(self.table_id, where=where, fields=wanted):
            try:
                approved.add(row_key(self.table_id, parse_row(raw, self.fields)))
            except ValueError:
                continue
        return await self.lifecycle.no_longer_approved(self.table_id, approved)

    async def run(self, interval: float) -> None:
        """Sweep now, then every ``interval`` seconds (0: only now). Instances that share a database
        take turns: a pass that finds another instance sweeping is skipped (that one covers it)."""
        while True:
            try:
                async with self.queue.db.alone("sweep") as mine:
                    if mine:
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
