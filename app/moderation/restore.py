"""Rebuilding the decision log from NocoDB: after a loss of facegate's database (or on a second
server with an empty one), rows that facegate decided before are not decided again.

The sweep queues every row facegate's log does not know, as for any undecided row. Before deciding
one, moderation asks here: a row whose stamp (``app.moderation.stamps``) verifies for its current
upload was decided, and its decision is logged again as the stamp recorded it (``restored``), with
nothing written to NocoDB. An approved upload whose Status is still ``approved`` is published again,
its renditions made from NocoDB's copy of the picture. A Status other than the one facegate wrote
is a moderator's decision, which moderation then follows as it always does. A row without a valid
stamp is decided as new, whatever its Status says: the public may fill a Status (a form that shows
it) but cannot sign a stamp.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from app.carousel.service import Carousel
from app.metrics import STAMPS
from app.moderation.act import APPROVED_STATUS, KEPT_ACTIONS, status_of
from app.moderation.decisions import DecisionLog, DecisionRecord
from app.moderation.download import Downloader
from app.moderation.lifecycle import UploadLifecycle
from app.moderation.notes import facegate_line
from app.moderation.queue import Job
from app.moderation.rows import UploadRow
from app.moderation.stamps import InvalidStamp, Stamp, StampKey
from app.outcomes import Action, Decision

__all__ = ["Restored", "StampRestorer"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Restored:
    """facegate's decision on a row, logged again from its stamp."""

    record: DecisionRecord
    action: Action
    # The row's Status is no longer the one facegate wrote: a moderator decided since.
    moderated: bool


class StampRestorer:
    def __init__(
        self,
        *,
        stamps: StampKey,
        decisions: DecisionLog,
        downloader: Downloader,
        carousel: Carousel,
        lifecycle: UploadLifecycle,
    ) -> None:
        self.stamps = stamps
        self.decisions = decisions
        self.downloader = downloader
        self.carousel = carousel
        self.lifecycle = lifecycle

    async def restore(self, job: Job, row: UploadRow) -> Restored | None:
        """Log facegate's decision on ``row`` (NocoDB's current copy of the job's upload) from its
        stamp; None when the row has no valid stamp, and is to be decided as new."""
        stamp = self._valid_stamp(job, row)
        if stamp is None:
            return None
        action = KEPT_ACTIONS[stamp.decision]
        # Compared as the moderation loop reads a Status (``ModerationService._follow_moderator``).
        status = (row.status or "").strip().lower()
        if stamp.decision is Decision.APPROVED and status == APPROVED_STATUS:
            # Published before the decision is logged: a crash in between publishes again (no change).
            await self._publish(job, row, stamp)
        record = await asyncio.to_thread(
            self.decisions.record_restored,
            row_key=job.row_key,
            table_id=job.table_id,
            row_id=job.row_id,
            politician=stamp.politician,
            decision=stamp.decision,
            reason=stamp.reason,
            decided_at=float(stamp.decided_at),
            action=action,
            note=facegate_line(row.note),
        )
        STAMPS.labels(result="restored").inc()
        log.info(
            "job %d: row %d was %s (%s) by facegate, as its stamp says; restored, nothing written",
            job.id,
            job.row_id,
            stamp.decision,
            stamp.reason,
            extra={
                "row": job.row_id,
                "politician": stamp.politician,
                "decision": stamp.decision,
                "reason": stamp.reason,
                "action": action,
                "restored": True,
            },
        )
        written = status_of(stamp.decision, stamp.reason).lower()
        return Restored(record, action, moderated=status != written)

    def _valid_stamp(self, job: Job, row: UploadRow) -> Stamp | None:
        """The row's stamp if it verifies for the job's upload. One that does not is counted and
        logged (forged, copied from another row, or its picture changed): an operator should know."""
        try:
            return self.stamps.verify(row.stamp, job.row_key)
        except InvalidStamp as exc:
            STAMPS.labels(result="ignored").inc()
            log.warning(
                "job %d: row %d has a stamp that counts as none: %s; decided as new", job.id, job.row_id, exc
            )
            return None

    async def _publish(self, job: Job, row: UploadRow, stamp: Stamp) -> None:
        """The approved upload back on the carousel, its renditions made now from NocoDB's copy."""
        if not await self.carousel.shows(job.row_key):
            why = "restored as approved"
            await self.lifecycle.approved_as_in_nocodb(job, row, stamp.politician, self.downloader, why=why)
