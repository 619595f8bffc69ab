"""Deciding one queued row: download its images, verify each, act in NocoDB, log the decision.

A job may run again after a crash or a NocoDB outage, so each step is safe to repeat: the verdict is
logged before any action (a replay acts on the logged verdict instead of deciding again), and before
acting the row is read back to check it is still the same upload (NocoDB reuses Ids after deletions).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from app.config import Action
from app.errors import NotReady
from app.faces.service import FaceService
from app.faces.verdict import Decision, Reason
from app.integrations.nocodb.client import NocoDBClient
from app.integrations.nocodb.errors import AttachmentRefused, NocoDBRequestError
from app.metrics import ACTIONS, VERDICTS
from app.moderation.rows import FieldNames, UploadRow, parse_row
from app.moderation.store import DecisionRecord, Job, Store

log = logging.getLogger(__name__)

APPROVED_STATUS = "approved"
# The row disappeared (a moderator, or the uploader's own deletion) before facegate decided it.
ROW_GONE = "row_gone"


class RowGone(Exception):
    pass


@dataclass(frozen=True)
class RowVerdict:
    decision: Decision
    reason: Reason | str
    politician: str | None
    detail: str | None
    distances: list[dict[str, float]]


class ModerationService:
    def __init__(
        self,
        *,
        store: Store,
        faces: FaceService,
        nocodb: NocoDBClient,
        fields: FieldNames,
        action: Action,
        max_download_bytes: int,
    ) -> None:
        self.store = store
        self.faces = faces
        self.nocodb = nocodb
        self.fields = fields
        self.action = action
        self.max_download_bytes = max_download_bytes

    async def process(self, job: Job) -> str:
        """Decide and act on one row; returns the action taken. NocoDB errors propagate to the queue."""
        row = UploadRow.from_json(job.row)
        record = await asyncio.to_thread(self.store.decision_for, job.row_key)
        if record is None:
            verdict = await self.decide(row, job.table_id)
            record = await asyncio.to_thread(
                self.store.record_decision,
                job=job,
                politician=verdict.politician,
                decision=verdict.decision.value,
                reason=str(verdict.reason),
                detail=verdict.detail,
                distances=verdict.distances,
            )
            VERDICTS.labels(source="moderation", decision=record.decision, reason=record.reason).inc()
        if record.action is not None:
            return record.action  # a replay after the action was recorded: nothing more to do
        action = await self.act(job, row, record)
        approval = (job, record.politician or "", row.attachments) if action == "approved" else None
        await asyncio.to_thread(self.store.record_action, job.row_key, action, approval=approval)
        ACTIONS.labels(action=action).inc()
        log.info("job %d: row %d %s (%s), %s", job.id, job.row_id, record.decision, record.reason, action)
        return action

    async def decide(self, row: UploadRow, table_id: str) -> RowVerdict:
        """Every image must pass for the row to be approved; the first rejected image decides."""
        if not self.faces.ready:
            raise NotReady("The reference faces are not loaded.")
        claimed = row.politician
        if claimed is not None and claimed not in self.faces.references.politicians:
            return RowVerdict(
                Decision.REJECTED,
                "unknown_politician",
                claimed,
                f"Unknown politician {claimed!r}.",
                [],
            )
        if not row.attachments:
            return RowVerdict(Decision.REJECTED, Reason.NO_IMAGE, claimed, None, [])
        distances: list[dict[str, float]] = []
        identified: set[str | None] = set()
        for attachment in row.attachments:
            try:
                data = await self._download(table_id, row, attachment)
            except AttachmentRefused as exc:
                return RowVerdict(Decision.REJECTED, Reason.UNREADABLE_IMAGE, claimed, exc.message, distances)
            except RowGone:
                return RowVerdict(
                    Decision.REJECTED, ROW_GONE, claimed, "The row was deleted before it was decided.", []
                )
            verdict, problem = await self.faces.verify_image(data, claimed)
            del data  # the upload's bytes are not kept a moment longer than needed
            distances.extend(face.distances for face in verdict.faces)
            if verdict.decision is Decision.REJECTED:
                return RowVerdict(verdict.decision, verdict.reason, verdict.politician, problem, distances)
            identified.add(verdict.politician)
        if len(identified) != 1:
            # Without a claim, every image must show the same politician.
            detail = "The images show different politicians."
            return RowVerdict(Decision.REJECTED, Reason.NO_MATCH, claimed, detail, distances)
        return RowVerdict(Decision.APPROVED, Reason.MATCH, identified.pop(), None, distances)

    async def _download(self, table_id: str, row: UploadRow, attachment: dict[str, Any]) -> bytes:
        """The attachment's bytes. ``AttachmentRefused`` only for a content problem (size, location).

        An HTTP refusal of the file (expired signed link, private bucket, secure attachments) is no
        verdict on the picture: the row is read again for fresh links and the download tried once more;
        if NocoDB still refuses, the job fails for an operator to see, and nothing is deleted.
        """
        try:
            return await self.nocodb.download(attachment, max_bytes=self.max_download_bytes)
        except AttachmentRefused as exc:
            if exc.status_code is None:
                raise
        current = await self.nocodb.get_row(table_id, row.row_id)
        if current is None or not self._same_upload(current, row):
            raise RowGone
        fresh = next(
            (a for a in parse_row(current, self.fields).attachments if a.get("id") == attachment.get("id")),
            attachment,
        )
        try:
            return await self.nocodb.download(fresh, max_bytes=self.max_download_bytes)
        except AttachmentRefused as exc:
            if exc.status_code is None:
                raise
            raise NocoDBRequestError(
                f"NocoDB refuses the attachment: {exc.message}", status_code=exc.status_code
            ) from exc

    async def act(self, job: Job, row: UploadRow, record: DecisionRecord) -> str:
        """Apply the decision in NocoDB; returns what was done."""
        if self.action is Action.DRY_RUN:
            return "none (dry-run)"
        current = await self.nocodb.get_row(job.table_id, job.row_id)
        if current is None:
            return "already_gone"
        if not self._same_upload(current, row):
            # Expected after a deletion and an Id reuse; if it happens for every row, NocoDB changed
            # the CreatedAt format or the attachment ids, and nothing is being acted on.
            log.warning("job %d: row %d is another upload now; not touched", job.id, job.row_id)
            return "already_gone"
        if record.decision == Decision.APPROVED or self.action is Action.FLAG:
            status = APPROVED_STATUS if record.decision == Decision.APPROVED else f"rejected: {record.reason}"
            # A replay after a crash between NocoDB's answer and our record: already written.
            if current.get(self.fields.status) != status:
                await self.nocodb.update_row(job.table_id, job.row_id, {self.fields.status: status})
            return "approved" if record.decision == Decision.APPROVED else "flagged"
        deleted = await self.nocodb.delete_row(job.table_id, job.row_id)
        return "deleted" if deleted else "already_gone"

    def _same_upload(self, current: dict[str, Any], row: UploadRow) -> bool:
        try:
            return parse_row(current, self.fields).identity() == row.identity()
        except ValueError:
            return False
