"""Applying a logged decision to the row in NocoDB: set its Status, or delete it.

Writes are sent once (never retried inside the client): a replayed job reads the row back first,
acts only if it is still the same upload, and does not write a Status the row already has.

The Status, facegate's stamp (``app.moderation.stamps``: the decision, signed for this upload) and
its note for moderators (``app.moderation.notes``) go in one PATCH: the row never shows one without
the others, and NocoDB holds the record of the decision, so a lost database can be rebuilt from it
(``app.moderation.restore``). What a moderator decides later changes the note alone, in one PATCH.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from app.config import FieldNames, RejectAction
from app.integrations.nocodb.client import NocoDBClient
from app.moderation.decisions import DecisionRecord
from app.moderation.links import ReviewLinks
from app.moderation.notes import Settlement, compose
from app.moderation.queue import Job
from app.moderation.rows import UploadRow, row_key, same_upload
from app.moderation.stamps import Stamp, StampKey
from app.outcomes import Action, Decision, Reason

__all__ = [
    "APPROVED_STATUS",
    "KEPT_ACTIONS",
    "MODERATION_STATUSES",
    "REJECTED_STATUS",
    "REVIEW_STATUS",
    "NocoDBWriter",
    "flag_status",
    "status_of",
    "status_values",
]

log = logging.getLogger(__name__)

APPROVED_STATUS = "approved"
REVIEW_STATUS = "review"
# Set by a moderator (facegate deletes what it rejects, or flags it ``rejected: <reason>``).
REJECTED_STATUS = "rejected"
# What a moderated row's Status holds: facegate's ``approved`` and ``review``, and the ``approved`` or
# ``rejected`` a moderator chooses in NocoDB's grid.
MODERATION_STATUSES = (APPROVED_STATUS, REVIEW_STATUS, REJECTED_STATUS)
# What writing a decision's Status did to the row (a rejection is written only with ``ACTION=flag``).
KEPT_ACTIONS = {
    Decision.APPROVED: Action.APPROVED,
    Decision.REVIEW: Action.REVIEW,
    Decision.REJECTED: Action.FLAGGED,
}
# Reasons that never reject a picture: no ``rejected: <reason>`` Status for them.
_NOT_REJECTIONS = frozenset({Reason.MATCH, Reason.NEAR_TOLERANCE, Reason.MODERATOR})


def flag_status(reason: Reason) -> str:
    """The Status of a rejected row with ``FACEGATE_ACTION=flag``."""
    return f"rejected: {reason}"


def status_values(on_reject: RejectAction) -> list[str]:
    """Every value the Status cell may be given: a SingleSelect Status needs each as an option, as
    NocoDB refuses (HTTP 400) any other value written to a select."""
    flagged = (
        [flag_status(r) for r in Reason if r not in _NOT_REJECTIONS] if on_reject is RejectAction.FLAG else []
    )
    return [*MODERATION_STATUSES, *flagged]


def status_of(decision: Decision, reason: Reason) -> str:
    """The Status facegate writes for a decision that keeps the row (a rejection only when flagged)."""
    if decision is Decision.REJECTED:
        return flag_status(reason)
    return APPROVED_STATUS if decision is Decision.APPROVED else REVIEW_STATUS


class NocoDBWriter:
    """Writes facegate's decisions into NocoDB; ``stamps`` None (no ``FACEGATE_STAMP_SECRET``): the
    Status alone, without a stamp; ``links`` None (no ``FACEGATE_PUBLIC_URL`` or stamp secret): notes
    without a link to the reference page."""

    def __init__(
        self,
        *,
        nocodb: NocoDBClient,
        fields: FieldNames,
        on_reject: RejectAction,
        stamps: StampKey | None = None,
        links: ReviewLinks | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.nocodb = nocodb
        self.fields = fields
        self.on_reject = on_reject
        self.stamps = stamps
        self.links = links
        self.clock = clock
        self._warned_no_note = False

    async def act(self, job: Job, row: UploadRow, record: DecisionRecord) -> Action:
        """Apply the decision in NocoDB; returns what was done."""
        if self.on_reject is RejectAction.DRY_RUN:
            return Action.NOTHING
        current = await self.nocodb.get_row(job.table_id, job.row_id)
        if current is None:
            return Action.ALREADY_GONE
        upload = row_key(job.table_id, row)
        if same_upload(current, upload, table_id=job.table_id, fields=self.fields) is None:
            # Expected after a deletion and an Id reuse; if it happens for every row, NocoDB changed
            # the CreatedAt format or the attachment ids, and nothing is being acted on.
            log.warning("job %d: row %d is another upload now; not touched", job.id, job.row_id)
            return Action.ALREADY_GONE
        if record.reason is Reason.ROW_GONE:
            # Read as gone a moment ago, and there now: a read to doubt, never a reason to delete.
            log.warning("job %d: row %d was read as deleted and is there; not touched", job.id, job.row_id)
            return Action.ALREADY_GONE
        if record.decision is Decision.REJECTED and self.on_reject is not RejectAction.FLAG:
            deleted = await self.nocodb.delete_row(job.table_id, job.row_id)
            return Action.DELETED if deleted else Action.ALREADY_GONE
        cells = self.cells(record)
        if self.fields.note not in current:
            self._no_note_column()
            cells.pop(self.fields.note)
        # A replay after a crash between NocoDB's answer and our record: already written.
        if any(current.get(name) != value for name, value in cells.items()):
            await self.nocodb.update_row(job.table_id, job.row_id, cells)
        return KEPT_ACTIONS[record.decision]

    def cells(self, record: DecisionRecord) -> dict[str, str]:
        """What one PATCH writes for a decision that keeps the row: its Status, its stamp and its note."""
        cells = {
            self.fields.status: status_of(record.decision, record.reason),
            self.fields.note: self.note(record),
        }
        if self.stamps is not None:
            cells[self.fields.stamp] = self.stamps.sign(Stamp.of(record))
        return cells

    def note(self, record: DecisionRecord, settled: Settlement | None = None) -> str:
        """The note for facegate's decision ``record`` and what a moderator did since (``settled``).
        The reference page's link is in it while the row waits for a moderator: in review, or
        rejected by a moderator and not deleted yet."""
        waits = record.decision is Decision.REVIEW and (
            settled is None or settled.decision is Decision.REVIEW or settled.deletes_at is not None
        )
        link = None
        if waits and self.links is not None:
            found = self.links.link(
                table_id=record.table_id, row_id=record.row_id, row_key=record.row_key, now=self.clock()
            )
            link = (found.url, found.expires_at)
        return compose(record.note, record.reason, record.decision, link=link, settled=settled)

    async def write_note(self, job: Job, row: UploadRow, note: str) -> bool:
        """Write the note alone (a moderator's decision followed, a link renewed), once: only when
        the row's note differs. Returns whether it was written."""
        if self.on_reject is RejectAction.DRY_RUN or row.note == note:
            return False
        if row.note is None:
            # Written anyway, NocoDB would drop it and fire an update event: facegate would write again.
            self._no_note_column()
            return False
        await self.nocodb.update_row(job.table_id, job.row_id, {self.fields.note: note})
        return True

    def _no_note_column(self) -> None:
        if not self._warned_no_note:
            self._warned_no_note = True
            log.warning(
                "the table has no column %r: facegate's notes for moderators are not written; run"
                " facegate bootstrap (--attach for a table of your own) to add it",
                self.fields.note,
            )

    @property
    def deletes(self) -> bool:
        """A rejection deletes the row (``FACEGATE_ACTION=delete``)."""
        return self.on_reject is RejectAction.DELETE

    async def reject_for_moderator(self, job: Job) -> Action:
        """A moderator set Status ``rejected``: the row goes as facegate's rejections go (deleted,
        or left flagged by the moderator's own Status with ``ACTION=flag``)."""
        if self.on_reject is RejectAction.DRY_RUN:
            return Action.NOTHING
        if self.on_reject is RejectAction.FLAG:
            return Action.FLAGGED
        deleted = await self.nocodb.delete_row(job.table_id, job.row_id)
        return Action.DELETED if deleted else Action.ALREADY_GONE
