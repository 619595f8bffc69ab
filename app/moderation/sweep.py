"""The sweep: NocoDB never re-sends a webhook, so rows inserted or changed while facegate was down,
or whose webhook was lost, are found by listing the table and queuing the uploads facegate has not
seen (a row whose attachments changed is a new upload). The Status cell is not trusted to say what was
decided: anyone who can write a row can write it. Once facegate has decided a row, though, its Status
is the moderators' (the public form cannot change a row): the sweep queues decided rows whose Status
a moderator set to ``approved`` (not on the carousel), ``rejected``, or back to ``review`` after a
rejection, for the moderation loop to follow; and rows in review whose note's link to the reference
page runs short, for their note to be written with a fresh one. It also tells the uploads'
lifecycle (``app.moderation.lifecycle``) which rows are still approved in NocoDB, and queues again
backlog rows still held once the operator has confirmed the backlog (``app.moderation.backlog``).

After a loss of facegate's database (or on a second server), every row is an upload facegate has not
seen: the sweep queues them all, and moderation restores, rather than decides, each row whose stamp
says facegate decided it (``app.moderation.restore``).

NocoDB's insert event may name another row than the one inserted: with four form submissions at a
time, 40 inserts gave events naming only 29 to 33 distinct rows (each event a real row, some named
twice, the others never). So each insert event is also a nudge to list the newest rows (``newest``),
and every upload is queued within moments of its insert, whichever row its event names.
"""

from __future__ import annotations

import asyncio
import logging

from app.carousel.service import Carousel
from app.config import FieldNames
from app.integrations.nocodb.client import NocoDBClient
from app.moderation.act import APPROVED_STATUS, REJECTED_STATUS, REVIEW_STATUS
from app.moderation.backlog import Backlog
from app.moderation.decisions import DecisionLog, DecisionRecord
from app.moderation.lifecycle import UploadLifecycle
from app.moderation.links import ReviewLinks
from app.moderation.queue import JobQueue, NewJob
from app.moderation.rows import UploadRow, new_job, parse_row, row_key
from app.outcomes import Decision, Source

__all__ = ["Sweeper"]

log = logging.getLogger(__name__)

SWEEP_RETRY_SECONDS = 15.0
ENQUEUE_BATCH = 500
# ``newest`` also lists this many Ids below the newest it knows: Ids freed by deletions facegate did
# not hear of, which NocoDB gives again, and rows of another database's out-of-order commits.
NEWEST_MARGIN = 20
# After a failed listing of the newest rows, before the next one (the sweep covers the rest).
NEWEST_RETRY_SECONDS = 2.0


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
        links: ReviewLinks | None = None,
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
        self.links = links
        # The highest Id ``newest`` has listed (None before its first listing).
        self._listed_up_to: int | None = None

    async def sweep(self) -> int:
        """One pass over the table; returns how many rows were queued (new uploads, and decided rows
        a moderator settled, and backlog rows held a moment before the backlog was confirmed)."""
        # First, as it asks nothing of NocoDB (which may be down): a confirmed backlog's held rows.
        queued = await self.backlog.release_if_confirmed() if self.backlog is not None else 0
        listed, _ = await self._queue_listed("(Id,gt,0)", source="sweep")
        queued += listed
        if queued:
            log.info("sweep queued %d rows", queued)
        return queued

    async def newest(self) -> int:
        """Queue the rows created since the newest one facegate has seen, as the sweep queues rows;
        returns how many were queued. The rows above the lower of two Ids are listed (less
        ``NEWEST_MARGIN``): the highest ``newest`` listed before (an event may have named a row above
        one it never named), and the highest of an upload facegate queued and has not seen leave
        NocoDB (NocoDB gives a deleted last row's Id to the next row)."""
        queued_up_to = await asyncio.to_thread(self.queue.newest_row_id, self.table_id)
        floor = min(queued_up_to, self._listed_up_to if self._listed_up_to is not None else queued_up_to)
        queued, highest = await self._queue_listed(
            f"(Id,gt,{max(0, floor - NEWEST_MARGIN)})", source="newest"
        )
        if highest:
            self._listed_up_to = highest
        if queued:
            log.info("%d new rows queued that no insert event named", queued)
        return queued

    async def follow_inserts(self, inserted: asyncio.Event) -> None:
        """List the newest rows (``newest``) each time an insert event sets ``inserted``; events that
        arrive during a listing cost one more listing, not one each."""
        while True:
            await inserted.wait()
            inserted.clear()
            try:
                await self.newest()
            except Exception as exc:  # NocoDB down or refusing: the sweep finds the rows later
                log.warning("listing the newest rows failed: %s", getattr(exc, "message", type(exc).__name__))
                await asyncio.sleep(NEWEST_RETRY_SECONDS)

    async def _queue_listed(self, where: str, *, source: str) -> tuple[int, int]:
        """List the rows ``where`` selects and queue what they need (the module docstring says what),
        as jobs of ``source``; returns how many were queued, and the highest Id listed (0 for none)."""
        wanted = ["Id", "CreatedAt", *self.fields.columns()]
        # Shown on the carousel: decided, even once retention has forgotten the job.
        shown = await self.carousel.shown_keys(self.table_id)
        # A row that left NocoDB while the pass listed it is not a new upload under its old key.
        listed_at = self.queue.db.clock()
        queued = highest = 0
        page: list[tuple[NewJob, UploadRow]] = []
        async for raw in self.nocodb.iter_rows(self.table_id, where=where, fields=wanted):
            try:
                row = parse_row(raw, self.fields)
            except ValueError:
                continue
            highest = max(highest, row.row_id)
            page.append((new_job(self.table_id, row), row))
            if len(page) >= ENQUEUE_BATCH:
                queued += await asyncio.to_thread(self._queue_page, page, shown, listed_at, source)
                page = []
        if page:
            queued += await asyncio.to_thread(self._queue_page, page, shown, listed_at, source)
        if queued:
            self.wake.set()
        return queued, highest

    def _queue_page(
        self, page: list[tuple[NewJob, UploadRow]], shown: set[str], listed_at: float, source: str
    ) -> int:
        fresh = [job for job, _ in page if job.row_key not in shown]
        queued = self.queue.enqueue(fresh, source=source, listed_at=listed_at)
        status = {job.row_key: (row.status or "").strip().lower() for job, row in page}
        settled = self.decisions.settled_many(
            [k for k, s in status.items() if s in (APPROVED_STATUS, REJECTED_STATUS, REVIEW_STATUS)]
        )
        moderated = [
            key
            for key, record in settled.items()
            if (status[key] == APPROVED_STATUS and key not in shown)
            or (status[key] == REJECTED_STATUS and record.decision is not Decision.REJECTED)
            or (status[key] == REVIEW_STATUS and self._note_to_renew(record, listed_at))
        ]
        return queued + (self.queue.recheck(moderated) if moderated else 0)

    def _note_to_renew(self, settled: DecisionRecord, now: float) -> bool:
        """A row in review whose note needs writing: a moderator's rejection taken back (the note still
        says it will be deleted), or a link to the reference page that expires within half its life
        (the link written when the note was, ``acted_at``: the listing does not read the note, as
        NocoDB refuses to list a column that a table attached before notes existed lacks)."""
        if settled.source is Source.MODERATOR and settled.decision is not Decision.REVIEW:
            return settled.decision is Decision.REJECTED and settled.action is None
        if self.links is None or settled.acted_at is None:
            return False
        written = self.links.link(
            table_id=settled.table_id, row_id=settled.row_id, row_key=settled.row_key, now=settled.acted_at
        )
        return written.expires_at - now < self.links.ttl / 2

    async def sweep_approvals(self) -> int:
        """Tell the uploads' lifecycle which rows NocoDB still shows as approved; returns how many
        uploads left the carousel."""
        if not await self.carousel.shows_any(self.table_id):
            return 0
        where = f"({self.fields.status},eq,{APPROVED_STATUS})"
        wanted = ["Id", "CreatedAt", self.fields.image]
        shown_before = await self.carousel.shown_keys(self.table_id)
        approved: set[str] = set()
        async for raw in self.nocodb.iter_rows(self.table_id, where=where, fields=wanted):
            try:
                approved.add(row_key(self.table_id, parse_row(raw, self.fields)))
            except ValueError:
                continue
        # Published while the rows were listed: their Status was written first (by facegate or a
        # moderator), whether or not the listing had passed their Id. Withdrawn, the next sweep would
        # publish them again as a moderator's approval that no moderator made.
        approved |= await self.carousel.shown_keys(self.table_id) - shown_before
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
