"""Deciding one queued row: read it from NocoDB, decide it (``app.moderation.decide``: its images
downloaded and verified), log the decision, act in NocoDB, and publish approved uploads on the
carousel. A row that must wait (the backlog not confirmed, a problem of the set-up) raises ``Held``
(``app.moderation.holds``) before anything is logged or written: the runner holds its job.

The webhook or the sweep only says which row to look at: what is decided, and acted on, is the row
as NocoDB's API has it, never the copy that came with the trigger (anyone holding the webhook secret
could forge that). A job may run again after a crash or a NocoDB outage, so each step is safe to
repeat: the verdict is logged before any action (a replay acts on the logged verdict instead of
deciding again), the NocoDB write checks the row is still the same upload (``app.moderation.act``),
and publishing is idempotent. A row facegate's log does not know but whose stamp says facegate
decided it (the log was lost) is not decided again: its decision is restored
(``app.moderation.restore``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from app.carousel.service import Carousel
from app.carousel.store import NewApproval
from app.erasure.provenance import ForeignAttachment
from app.faces.renditions import Rendition
from app.metrics import ACTIONS, REVIEW_WAIT_SECONDS, REVIEWS_SETTLED, VERDICTS
from app.moderation.act import APPROVED_STATUS, REJECTED_STATUS, NocoDBWriter
from app.moderation.backlog import Backlog
from app.moderation.decide import RowDecider, RowVerdict
from app.moderation.decisions import DecisionLog, DecisionRecord
from app.moderation.download import Downloader
from app.moderation.holds import Deferred
from app.moderation.lifecycle import UploadLifecycle
from app.moderation.notes import Settlement, reports
from app.moderation.queue import Job, JobQueue
from app.moderation.restore import StampRestorer
from app.moderation.rows import UploadRow
from app.outcomes import Action, Decision, Reason, Source
from app.verification import FaceService

__all__ = ["ModerationService"]

log = logging.getLogger(__name__)


def _decided(job: Job, record: DecisionRecord, action: Action) -> dict[str, object]:
    """A decision's fields on its log line, for a log search to filter on (``app.logs``)."""
    return {
        "row": job.row_id,
        "politician": record.politician,
        "decision": record.decision,
        "reason": record.reason,
        "action": action,
        "source": record.source,
    }


# Decided rows that stay in NocoDB, where moderators may settle them with the Status cell.
SETTLED_IN_NOCODB = frozenset({Action.APPROVED, Action.REVIEW, Action.FLAGGED})


def _pending_rejection(settled: DecisionRecord) -> bool:
    """A moderator's rejection in its grace period: logged, not carried out yet."""
    moderators = settled.source is Source.MODERATOR
    return moderators and settled.decision is Decision.REJECTED and settled.action is None


@dataclass(frozen=True)
class _Followed:
    """A decided row whose Status a moderator may have changed: the job, the row as NocoDB has it,
    facegate's decision, where the row stands in the log (``settled``), and the politician's slug."""

    job: Job
    row: UploadRow
    record: DecisionRecord
    settled: DecisionRecord
    politician: str | None


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
        leases: JobQueue,
        decider: RowDecider,
        backlog: Backlog,
        restorer: StampRestorer | None = None,
        grace_seconds: float = 0.0,
    ) -> None:
        self.leases = leases
        self.grace_seconds = grace_seconds
        self.restorer = restorer
        self.lifecycle = lifecycle
        self.decider = decider
        self.backlog = backlog
        self.decisions = decisions
        self.faces = faces
        self.downloader = downloader
        self.writer = writer
        self.carousel = carousel

    async def process(self, job: Job, *, unanalysable: str | None = None) -> Action:
        """Decide and act on one row; returns the action taken. NocoDB errors propagate to the queue,
        and so does ``Held`` (a row that must wait: nothing logged, nothing written).
        ``unanalysable``: the face workers failed on the row's picture try after try (the runner
        says why); the row, if still there, is rejected (``analysis_failed``) without analysing it
        again, so a picture that breaks the workers is deleted and erased like any rejection."""
        row = UploadRow.from_json(job.row)
        record = await asyncio.to_thread(self.decisions.decision_for, job.row_key)
        if record is not None and record.action in SETTLED_IN_NOCODB:
            return await self._follow_moderator(job, record)
        renditions = None
        if record is None:
            # Before NocoDB is asked anything: a backlog held by the thousand costs no request. The
            # trigger's CreatedAt is checked by ``current`` (it is part of the upload's key).
            await self.backlog.check(row)
            current = await self.downloader.current(job.table_id, row)
            if current is not None and (restored := await self._restored(job, current)) is not None:
                return restored
            if current is None:
                detail = "The row was deleted, or its attachments changed, before it was decided."
                verdict = RowVerdict(Decision.REJECTED, Reason.ROW_GONE, self.decider.named(row), detail, [])
            elif unanalysable is not None:
                row = current
                verdict = RowVerdict(
                    Decision.REJECTED, Reason.ANALYSIS_FAILED, self.decider.named(row), unanalysable, []
                )
            else:
                row = current
                verdict = await self.decider.decide(row, job.table_id)
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
                note=verdict.note,
            )
            VERDICTS.labels(source="moderation", decision=record.decision, reason=record.reason).inc()
            renditions = verdict.renditions
        action = record.action or await self._act(job, row, record, renditions)
        await self.lifecycle.acted(job, row, action)
        return action

    async def _restored(self, job: Job, row: UploadRow) -> Action | None:
        """facegate decided the row before its log was lost, as the row's stamp says: restored, and a
        moderator's decision since then followed. None: no valid stamp, the row is decided as new."""
        restored = await self.restorer.restore(job, row) if self.restorer is not None else None
        if restored is None:
            return None
        # Proved when it was first decided, but the claims went with the log: claimed again, so that
        # its files are erased when it leaves NocoDB (a file proved foreign now stays unclaimed).
        with contextlib.suppress(ForeignAttachment):
            await self.decider.prove_own(row, job.table_id)
        return await self._follow_moderator(job, restored.record) if restored.moderated else restored.action

    async def _follow_moderator(self, job: Job, record: DecisionRecord) -> Action:
        """A decided row queued again (it changed in NocoDB, or the sweep saw a moderator's Status).
        Once facegate has decided, the Status cell is the moderators' word: ``approved`` publishes the
        upload; ``rejected`` takes it off the carousel at once and deletes the row once the grace
        period is over (``FACEGATE_MODERATOR_GRACE_SECONDS``: a misclick can be changed back until
        then). The note follows what the moderator did."""
        row = await self.downloader.current_by_key(job.table_id, job.row_id, job.row_key)
        if row is None:
            return Action.ALREADY_GONE  # deleted, or another upload by now (which has a job of its own)
        settled = await asyncio.to_thread(self.decisions.settled, job.row_key) or record
        status = (row.status or "").strip().lower()
        # The slug facegate decided on; else the one the cell names (it may hold a display name).
        politician = record.politician or row.politician
        if record.politician is None and row.politician is not None and self.faces.ready:
            politician = self.faces.references.resolve(row.politician) or row.politician
        pending = _pending_rejection(settled)
        it = _Followed(job, row, record, settled, politician)
        if status == APPROVED_STATUS and not await self.carousel.shows(job.row_key):
            return await self._moderator_approves(it)
        if status == REJECTED_STATUS and (pending or settled.decision is not Decision.REJECTED):
            return await self._moderator_rejects(it)
        if pending:
            return await self._rejection_taken_back(it)
        if record.decision is Decision.REVIEW and settled.decision is Decision.REVIEW:
            # Still waiting: its note's link is renewed (the sweep queues it when it runs short).
            moderated = settled.source is Source.MODERATOR
            back = Settlement(Decision.REVIEW, settled.decided_at) if moderated else None
            await self.writer.write_note(job, row, self.writer.note(record, back))
            # When the note (and its link) was last written: the sweep renews it from there.
            await asyncio.to_thread(self.decisions.record_action, settled.id, settled.action or Action.REVIEW)
        return settled.action or record.action or Action.REVIEW

    async def _record_moderator(self, it: _Followed, decision: Decision) -> DecisionRecord:
        """Log what the moderator's Status says; a row facegate sent to review counts as settled
        (its wait measured) the first time a moderator decides it."""
        moderated = await asyncio.to_thread(
            self.decisions.record_moderator,
            row_key=it.job.row_key,
            table_id=it.job.table_id,
            row_id=it.job.row_id,
            politician=it.politician,
            decision=decision,
        )
        if moderated.id == it.settled.id:
            return moderated  # seen before (a rejection in its grace period, run again)
        VERDICTS.labels(source="moderator", decision=decision, reason=Reason.MODERATOR).inc()
        if it.record.decision is Decision.REVIEW:
            outcome = "taken_back" if decision is Decision.REVIEW else decision.value
            REVIEWS_SETTLED.labels(outcome=outcome).inc()
            if it.settled.source is Source.FACEGATE:
                REVIEW_WAIT_SECONDS.observe(max(0.0, moderated.decided_at - it.record.decided_at))
        return moderated

    async def _moderator_approves(self, it: _Followed) -> Action:
        job, row, record, politician = it.job, it.row, it.record, it.politician
        try:  # proved when facegate decided it, unless that was before facegate proved uploads
            await self.decider.prove_own(row, job.table_id)
        except ForeignAttachment as exc:
            log.warning("job %d: row %d approved by a moderator, not published: %s", job.id, job.row_id, exc)
            return Action.REVIEW
        decision = await self._record_moderator(it, Decision.APPROVED)
        why = "approved by a moderator"
        if not await self.lifecycle.approved_as_in_nocodb(job, row, politician, self.downloader, why=why):
            return Action.ALREADY_GONE
        await self._settled(job, row, record, decision, Action.APPROVED)
        return Action.APPROVED

    async def _moderator_rejects(self, it: _Followed) -> Action:
        job, row, record = it.job, it.row, it.record
        decision = await self._record_moderator(it, Decision.REJECTED)
        # Off the carousel at once; its files stay while the row does (the eraser checks).
        await self.lifecycle.rejected(job.table_id, job.row_id)
        deletes_at = decision.decided_at + self.grace_seconds
        if self.writer.deletes and self.decisions.db.clock() < deletes_at:
            note = self.writer.note(record, Settlement(Decision.REJECTED, decision.decided_at, deletes_at))
            await self.writer.write_note(job, row, note)
            raise Deferred(deletes_at, "rejected by a moderator: deleted once the grace period is over")
        await asyncio.to_thread(self.leases.check_lease, job)
        action = await self.writer.reject_for_moderator(job)
        await self.lifecycle.acted(job, row, action)
        await self._settled(job, row, record, decision, action)
        return action

    async def _rejection_taken_back(self, it: _Followed) -> Action:
        """A moderator's rejection changed back (to ``review``, or to anything but ``approved`` and
        ``rejected``) within the grace period: the row stays, and waits as before."""
        decision = await self._record_moderator(it, Decision.REVIEW)
        await self._settled(it.job, it.row, it.record, decision, Action.REVIEW)
        return Action.REVIEW

    async def _settled(
        self, job: Job, row: UploadRow, record: DecisionRecord, decision: DecisionRecord, action: Action
    ) -> None:
        """A moderator's decision carried out: its note written (a row that stays), and logged."""
        stays = action is not Action.DELETED and action is not Action.ALREADY_GONE
        if stays and not reports(row.note, decision.decision):
            await self.writer.write_note(
                job, row, self.writer.note(record, Settlement(decision.decision, decision.decided_at))
            )
        await asyncio.to_thread(self.decisions.record_action, decision.id, action)
        ACTIONS.labels(action=action).inc()
        log.info(
            "job %d: row %d %s by a moderator, %s",
            job.id,
            job.row_id,
            decision.decision,
            action,
            extra=_decided(job, decision, action),
        )

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
