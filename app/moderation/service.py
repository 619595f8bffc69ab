"""Deciding one queued row: download its images, verify each, log the decision, act in NocoDB, and
publish approved uploads on the carousel.

A job may run again after a crash or a NocoDB outage, so each step is safe to repeat: the verdict is
logged before any action (a replay acts on the logged verdict instead of deciding again), the NocoDB
write checks the row is still the same upload (``app.moderation.act``), and publishing is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from app.carousel.service import Carousel
from app.carousel.store import NewApproval
from app.erasure.service import Eraser, GoneRow
from app.erasure.store import PurgeTrigger
from app.errors import NotReady
from app.faces.service import FaceService
from app.integrations.nocodb.errors import AttachmentRefused
from app.metrics import ACTIONS, VERDICTS
from app.moderation.act import NocoDBWriter
from app.moderation.decisions import DecisionLog, DecisionRecord
from app.moderation.download import Downloader, RowGone
from app.moderation.queue import Job
from app.moderation.rows import UploadRow
from app.outcomes import Action, Decision, Reason

__all__ = ["ModerationService", "RowVerdict"]

log = logging.getLogger(__name__)


_PURGE_TRIGGERS = {Action.DELETED: PurgeTrigger.DELETED, Action.ALREADY_GONE: PurgeTrigger.ALREADY_GONE}


@dataclass(frozen=True)
class RowVerdict:
    decision: Decision
    reason: Reason
    politician: str | None
    detail: str | None
    distances: list[dict[str, float]]
    # An approved row's first image, as verified: the carousel's renditions are made from it.
    image: bytes | None = field(default=None, repr=False)


class ModerationService:
    def __init__(
        self,
        *,
        decisions: DecisionLog,
        faces: FaceService,
        downloader: Downloader,
        writer: NocoDBWriter,
        carousel: Carousel,
        eraser: Eraser,
    ) -> None:
        self.eraser = eraser
        self.decisions = decisions
        self.faces = faces
        self.downloader = downloader
        self.writer = writer
        self.carousel = carousel

    async def process(self, job: Job) -> Action:
        """Decide and act on one row; returns the action taken. NocoDB errors propagate to the queue."""
        row = UploadRow.from_json(job.row)
        record = await asyncio.to_thread(self.decisions.decision_for, job.row_key)
        image = None
        if record is None:
            verdict = await self.decide(row, job.table_id)
            record = await asyncio.to_thread(
                self.decisions.record_decision,
                row_key=job.row_key,
                table_id=job.table_id,
                row_id=job.row_id,
                politician=verdict.politician,
                decision=verdict.decision,
                reason=verdict.reason,
                detail=verdict.detail,
                distances=verdict.distances,
            )
            VERDICTS.labels(source="moderation", decision=record.decision, reason=record.reason).inc()
            image = verdict.image
        action = record.action or await self._act(job, row, record, image)
        await self._purge_if_gone(job, row, action)
        return action

    async def _purge_if_gone(self, job: Job, row: UploadRow, action: Action) -> None:
        """The row is gone: its files must go too (NocoDB keeps and serves them otherwise). A replay
        after a crash between the action and the purge purges then; the eraser does it once."""
        trigger = _PURGE_TRIGGERS.get(action)
        if trigger is not None:
            await self.eraser.purge(
                GoneRow(job.row_key, job.table_id, job.row_id, row.attachments), trigger=trigger
            )

    async def _act(self, job: Job, row: UploadRow, record: DecisionRecord, image: bytes | None) -> Action:
        """Apply the logged decision in NocoDB, publish an approval, and record what was done."""
        action = await self.writer.act(job, row, record)
        if action is Action.APPROVED:
            # Before the action is recorded: a crash in between publishes again, which changes nothing.
            await self.carousel.publish(
                NewApproval(
                    row_key=job.row_key,
                    table_id=job.table_id,
                    row_id=job.row_id,
                    politician=record.politician or "",
                    attachments=row.attachments,
                ),
                image,
            )
        await asyncio.to_thread(self.decisions.record_action, job.row_key, action)
        ACTIONS.labels(action=action).inc()
        log.info("job %d: row %d %s (%s), %s", job.id, job.row_id, record.decision, record.reason, action)
        return action

    async def decide(self, row: UploadRow, table_id: str) -> RowVerdict:
        """Every image must pass for the row to be approved; the first rejected image decides."""
        if not self.faces.ready:
            raise NotReady("The reference faces are not loaded.")
        claimed = row.politician
        if claimed is not None and claimed not in self.faces.references.politicians:
            detail = f"Unknown politician {claimed!r}."
            return RowVerdict(Decision.REJECTED, Reason.UNKNOWN_POLITICIAN, claimed, detail, [])
        if not row.attachments:
            return RowVerdict(Decision.REJECTED, Reason.NO_IMAGE, claimed, None, [])
        distances: list[dict[str, float]] = []
        identified: set[str | None] = set()
        first: bytes | None = None
        for attachment in row.attachments:
            try:
                data = await self.downloader.fetch(table_id, row, attachment)
            except AttachmentRefused as exc:
                return RowVerdict(Decision.REJECTED, Reason.UNREADABLE_IMAGE, claimed, exc.message, distances)
            except RowGone:
                detail = "The row was deleted before it was decided."
                return RowVerdict(Decision.REJECTED, Reason.ROW_GONE, claimed, detail, [])
            verdict, problem = await self.faces.verify_image(data, claimed)
            distances.extend(face.distances for face in verdict.faces)
            if verdict.decision is Decision.REJECTED:
                # A rejected upload's bytes are not kept a moment longer than needed.
                return RowVerdict(verdict.decision, verdict.reason, verdict.politician, problem, distances)
            identified.add(verdict.politician)
            first = data if first is None else first
        if len(identified) != 1:
            # Without a claim, every image must show the same politician.
            detail = "The images show different politicians."
            return RowVerdict(Decision.REJECTED, Reason.NO_MATCH, claimed, detail, distances)
        return RowVerdict(Decision.APPROVED, Reason.MATCH, identified.pop(), None, distances, first)
