"""Deciding one queued row: read it from NocoDB, download its images, verify each, log the decision,
act in NocoDB, and publish approved uploads on the carousel.

The webhook or the sweep only says which row to look at: what is decided, and acted on, is the row
as NocoDB's API has it, never the copy that came with the trigger (anyone holding the webhook secret
could forge that). A job may run again after a crash or a NocoDB outage, so each step is safe to
repeat: the verdict is logged before any action (a replay acts on the logged verdict instead of
deciding again), the NocoDB write checks the row is still the same upload (``app.moderation.act``),
and publishing is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from app.carousel.service import Carousel
from app.carousel.store import NewApproval
from app.erasure.provenance import ForeignAttachment, Provenance, Submission
from app.errors import NotReady
from app.faces.intake import ImageRejected, declared_pixels
from app.faces.renditions import Rendition
from app.integrations.nocodb.errors import AttachmentRefused
from app.metrics import ACTIONS, VERDICTS
from app.moderation.act import APPROVED_STATUS, REJECTED_STATUS, NocoDBWriter
from app.moderation.decisions import DecisionLog, DecisionRecord
from app.moderation.download import Downloader, RowGone
from app.moderation.lifecycle import UploadLifecycle
from app.moderation.queue import Job, JobQueue
from app.moderation.rows import UploadRow, row_key
from app.outcomes import Action, Decision, Reason
from app.verification import FaceService

__all__ = ["ModerationService", "RowVerdict"]

log = logging.getLogger(__name__)


def _decided(job: Job, record: DecisionRecord, action: Action) -> dict[str, object]:
    """A decision's fields on its log line, for a log search to filter on (``app.logs``)."""
    return {
        "row": job.row_id,
        "politician": record.politician,
        "decision": record.decision,
        "reason": record.reason,
        "action": action,
    }


def _submission(table_id: str, row: UploadRow) -> Submission:
    return Submission(table_id, row_key(table_id, row), row.row_id, row.created_at, row.attachments)


# Decided rows that stay in NocoDB, where moderators may settle them with the Status cell.
SETTLED_IN_NOCODB = frozenset({Action.APPROVED, Action.REVIEW, Action.FLAGGED})


@dataclass(frozen=True)
class RowVerdict:
    decision: Decision
    reason: Reason
    politician: str | None
    detail: str | None
    distances: list[dict[str, float]]
    # An approved row's carousel renditions, made by the face worker from its first image as verified.
    renditions: dict[Rendition, bytes] | None = field(default=None, repr=False)


class ModerationService:
    def __init__(
        self,
        *,
        decisions: DecisionLog,
        faces: FaceService,
        downloader: Downloader,
        writer: NocoDBWriter,
        carousel: Carousel,
        lifecycle: UploadLifecycle,
        max_images: int,
        leases: JobQueue,
        provenance: Provenance,
    ) -> None:
        self.leases = leases
        self.provenance = provenance
        self.lifecycle = lifecycle
        self.max_images = max_images
        self.decisions = decisions
        self.faces = faces
        self.downloader = downloader
        self.writer = writer
        self.carousel = carousel

    async def process(self, job: Job) -> Action:
        """Decide and act on one row; returns the action taken. NocoDB errors propagate to the queue."""
        row = UploadRow.from_json(job.row)
        record = await asyncio.to_thread(self.decisions.decision_for, job.row_key)
        if record is not None and record.action in SETTLED_IN_NOCODB:
            return await self._follow_moderator(job, record)
        renditions = None
        if record is None:
            current = await self.downloader.current(job.table_id, row)
            if current is None:
                detail = "The row was deleted, or its attachments changed, before it was decided."
                verdict = RowVerdict(Decision.REJECTED, Reason.ROW_GONE, row.politician, detail, [])
            else:
                row = current
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
            renditions = verdict.renditions
        action = record.action or await self._act(job, row, record, renditions)
        await self.lifecycle.acted(job, row, action)
        return action

    async def _follow_moderator(self, job: Job, record: DecisionRecord) -> Action:
        """A decided row queued again (it changed in NocoDB, or the sweep saw a moderator's Status).
        Once facegate has decided, the Status cell is the moderators' word, and final: ``approved``
        publishes the upload, ``rejected`` removes it. Anything else changes nothing."""
        row = await self.downloader.current_by_key(job.table_id, job.row_id, job.row_key)
        if row is None:
            return Action.ALREADY_GONE  # deleted, or another upload by now (which has a job of its own)
        settled = await asyncio.to_thread(self.decisions.settled, job.row_key) or record
        status = (row.status or "").strip().lower()
        # The slug facegate decided on; else the one the cell names (it may hold a display name).
        politician = record.politician or row.politician
        if record.politician is None and row.politician is not None and self.faces.ready:
            politician = self.faces.references.resolve(row.politician) or row.politician
        if status == APPROVED_STATUS and not await self.carousel.shows(job.row_key):
            return await self._moderator_approves(job, row, politician)
        if status == REJECTED_STATUS and settled.decision is not Decision.REJECTED:
            return await self._moderator_rejects(job, row, politician)
        return settled.action or record.action or Action.REVIEW

    async def _record_moderator(self, job: Job, politician: str | None, decision: Decision) -> DecisionRecord:
        VERDICTS.labels(source="moderator", decision=decision, reason=Reason.MODERATOR).inc()
        return await asyncio.to_thread(
            self.decisions.record_moderator,
            row_key=job.row_key,
            table_id=job.table_id,
            row_id=job.row_id,
            politician=politician,
            decision=decision,
        )

    async def _moderator_approves(self, job: Job, row: UploadRow, politician: str | None) -> Action:
        try:  # proved when facegate decided it, unless that was before facegate proved uploads
            await self.provenance.prove(_submission(job.table_id, row))
        except ForeignAttachment as exc:
            log.warning("job %d: row %d approved by a moderator, not published: %s", job.id, job.row_id, exc)
            return Action.REVIEW
        decision = await self._record_moderator(job, politician, Decision.APPROVED)
        if row.attachments:
            try:
                data = await self.downloader.fetch(job.table_id, row, row.attachments[0])
            except (AttachmentRefused, RowGone) as exc:
                log.warning(
                    "job %d: row %d approved by a moderator, picture unavailable: %s",
                    job.id,
                    job.row_id,
                    getattr(exc, "message", "the row is gone"),
                )
                return Action.ALREADY_GONE
            # What the moderator saw is what the carousel shows: rendered now, from these bytes.
            renditions = await asyncio.to_thread(self.carousel.renditions.make, data)
            approval = NewApproval(job.row_key, job.table_id, job.row_id, politician or "", row.attachments)
            await self.lifecycle.approved(approval, renditions)
        await asyncio.to_thread(self.decisions.record_action, decision.id, Action.APPROVED)
        ACTIONS.labels(action=Action.APPROVED).inc()
        log.info(
            "job %d: row %d approved by a moderator",
            job.id,
            job.row_id,
            extra=_decided(job, decision, Action.APPROVED),
        )
        return Action.APPROVED

    async def _moderator_rejects(self, job: Job, row: UploadRow, politician: str | None) -> Action:
        decision = await self._record_moderator(job, politician, Decision.REJECTED)
        await self.lifecycle.rejected(job.table_id, job.row_id)
        await asyncio.to_thread(self.leases.check_lease, job)
        action = await self.writer.reject_for_moderator(job)
        await self.lifecycle.acted(job, row, action)
        await asyncio.to_thread(self.decisions.record_action, decision.id, action)
        ACTIONS.labels(action=action).inc()
        log.info(
            "job %d: row %d rejected by a moderator, %s",
            job.id,
            job.row_id,
            action,
            extra=_decided(job, decision, action),
        )
        return action

    async def _act(
        self, job: Job, row: UploadRow, record: DecisionRecord, renditions: dict[Rendition, bytes] | None
    ) -> Action:
        """Apply the logged decision in NocoDB, publish an approval, and record what was done."""
        # Another instance may have taken the job over while this one stalled: it acts, not both.
        await asyncio.to_thread(self.leases.check_lease, job)
        action = await self.writer.act(job, row, record)
        if action is Action.APPROVED:
            # Before the action is recorded: a crash in between publishes again, which changes nothing.
            await self.lifecycle.approved(
                NewApproval(
                    row_key=job.row_key,
                    table_id=job.table_id,
                    row_id=job.row_id,
                    politician=record.politician or "",
                    attachments=row.attachments,
                ),
                renditions,
            )
        elif action is Action.DELETED:
            # A row whose owner swapped an approved picture for this one: gone, it shows nothing.
            await self.lifecycle.rejected(job.table_id, job.row_id)
        await asyncio.to_thread(self.decisions.record_action, record.id, action)
        ACTIONS.labels(action=action).inc()
        log.info(
            "job %d: row %d %s (%s), %s",
            job.id,
            job.row_id,
            record.decision,
            record.reason,
            action,
            extra=_decided(job, record, action),
        )
        return action

    async def decide(self, row: UploadRow, table_id: str) -> RowVerdict:
        """Every image must pass for the row to be approved; the first rejected image decides."""
        if not self.faces.ready:
            raise NotReady("The reference faces are not loaded.")
        # The cell may hold a slug, a display name or a form label: decided against its slug.
        claimed = row.politician
        if claimed is not None:
            slug = self.faces.references.resolve(claimed)
            if slug is None:
                detail = f"Unknown politician {claimed!r}."
                return RowVerdict(Decision.REJECTED, Reason.UNKNOWN_POLITICIAN, claimed, detail, [])
            claimed = slug
        if not row.attachments:
            return RowVerdict(Decision.REJECTED, Reason.NO_IMAGE, claimed, None, [])
        if len(row.attachments) > self.max_images:
            detail = f"The row has {len(row.attachments)} images; at most {self.max_images} are moderated."
            return RowVerdict(Decision.REJECTED, Reason.TOO_MANY_IMAGES, claimed, detail, [])
        try:  # before any download: a file the row did not upload is not looked at
            await self.provenance.prove(_submission(table_id, row))
        except ForeignAttachment as exc:
            return RowVerdict(Decision.REJECTED, Reason.FOREIGN_ATTACHMENT, claimed, exc.detail, [])
        limits = self.carousel.renditions.limits
        distances: list[dict[str, float]] = []
        identified: set[str | None] = set()
        review: tuple[Reason, str | None] | None = None
        renditions: dict[Rendition, bytes] | None = None
        pixels = 0
        for index, attachment in enumerate(row.attachments):
            try:
                data = await self.downloader.fetch(table_id, row, attachment)
            except AttachmentRefused as exc:
                return RowVerdict(Decision.REJECTED, Reason.UNREADABLE_IMAGE, claimed, exc.message, distances)
            except RowGone:
                detail = "The row was deleted before it was decided."
                return RowVerdict(Decision.REJECTED, Reason.ROW_GONE, claimed, detail, [])
            # One row may not hold the workers longer than one very large picture would.
            with contextlib.suppress(ImageRejected):  # the face check says why, in its own words
                pixels += declared_pixels(data, limits)
            if pixels > limits.max_pixels:
                detail = f"The row's images have more than {limits.max_pixels} pixels in all."
                return RowVerdict(Decision.REJECTED, Reason.TOO_MANY_IMAGES, claimed, detail, distances)
            # An approved row shows its first image: the face worker renders it from what it decoded.
            checked = await self.faces.verify_image(data, claimed, renditions=index == 0)
            verdict, problem = checked.verdict, checked.problem
            distances.extend(face.distances for face in verdict.faces)
            if verdict.explicit:
                problem = "Found: " + ", ".join(f"{f.label} ({f.score:.2f})" for f in verdict.explicit)
            if verdict.decision is Decision.REJECTED:
                # A rejected upload's bytes are not kept a moment longer than needed.
                return RowVerdict(verdict.decision, verdict.reason, verdict.politician, problem, distances)
            identified.add(verdict.politician)
            if verdict.decision is Decision.REVIEW:
                review = review or (verdict.reason, problem)
            if index == 0:
                renditions = checked.renditions
        if len(identified) != 1:
            # Without a claim, every image must show the same politician.
            detail = "The images show different politicians."
            return RowVerdict(Decision.REJECTED, Reason.NO_MATCH, claimed, detail, distances)
        if review is not None:
            # A moderator approves it in NocoDB; its renditions are made then, from what they saw.
            return RowVerdict(Decision.REVIEW, review[0], identified.pop(), review[1], distances)
        return RowVerdict(Decision.APPROVED, Reason.MATCH, identified.pop(), None, distances, renditions)
