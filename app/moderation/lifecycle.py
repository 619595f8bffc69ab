"""What happens to an upload once moderation has acted on it: one place for the carousel's
withdrawals and the erasure of files.

An upload facegate or a moderator approved is shown on the carousel. It leaves the carousel when it is
replaced (its owner swapped the row's picture), no longer approved (a moderator changed the Status),
rejected by a moderator, or gone from NocoDB (deleted by facegate, by someone else, or found gone).
A row that left NocoDB must not leave its files behind: NocoDB keeps and serves them, so they are
erased (``app.erasure``; the eraser erases only the upload's own files, once its row has left
NocoDB: a withdrawal's purge keeps them while the row is there; nothing with ``FACEGATE_ACTION``
flag or dry-run).

Each event below is one method; the webhook, the moderation service and the sweep call them, and
nothing else starts a withdrawal or an erasure (``facegate purge`` only finishes pending ones). A
withdrawal schedules the erasure first: a withdrawn approval forgets where its files were.

The carousel sits below moderation and does not import it. When it finds, serving a picture, that the
row was deleted in NocoDB, it calls its ``found_deleted`` callback, which the lifecycle sets to its
own ``found_deleted`` when it is built (so no composition can forget it), and then withdraws the
upload itself. A callback rather than routing the picture through the lifecycle: readers of the
carousel keep talking to the carousel alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence

from app.carousel.service import Carousel
from app.carousel.store import Approval, NewApproval
from app.erasure.service import Eraser, GoneRow
from app.erasure.store import PurgeTrigger
from app.faces.renditions import Rendition
from app.moderation.queue import Job, JobQueue
from app.moderation.rows import UploadRow, row_key
from app.outcomes import Action

__all__ = ["MAX_WITHDRAWN_AT_ONCE", "UploadLifecycle"]

log = logging.getLogger(__name__)

# Most of the carousel vanishing at once is more likely a changed NocoDB than moderators at work.
MAX_WITHDRAWN_AT_ONCE = 20
# Why the files of a row that facegate's action found gone from NocoDB are erased.
_GONE_AFTER_ACTION = {Action.DELETED: PurgeTrigger.DELETED, Action.ALREADY_GONE: PurgeTrigger.ALREADY_GONE}


class UploadLifecycle:
    """Publishes, withdraws and erases uploads; ``eraser`` is None without NocoDB settings (then
    nothing is erased or scheduled)."""

    def __init__(self, *, queue: JobQueue, carousel: Carousel, eraser: Eraser | None) -> None:
        self.queue = queue
        self.carousel = carousel
        self.eraser = eraser
        carousel.found_deleted = self.found_deleted

    async def approved(self, approval: NewApproval, renditions: dict[Rendition, bytes] | None) -> None:
        """An upload approved by facegate or a moderator is shown. It replaces the row's earlier upload
        (swapped by its owner): that one leaves the carousel, and its files are erased."""
        earlier = await self.carousel.shown_ids_of_rows(approval.table_id, [approval.row_id])
        approval_id = await self.carousel.publish(approval, renditions)
        await self._withdraw([i for i in earlier if i != approval_id], trigger=PurgeTrigger.NOT_APPROVED)

    async def rejected(self, table_id: str, row_id: int) -> None:
        """A row's upload was rejected: facegate deleted it, or a moderator set its Status to
        ``rejected``. The upload the carousel shows for the row leaves it (the one approved before its
        owner swapped the picture, or the one the moderator rejects), and its files are erased."""
        shown = await self.carousel.shown_ids_of_rows(table_id, [row_id])
        await self._withdraw(shown, trigger=PurgeTrigger.DELETED_IN_NOCODB)

    async def acted(self, job: Job, row: UploadRow, action: Action) -> None:
        """facegate acted on the row in NocoDB (its decision, or a moderator's rejection followed).
        A row it deleted, or found gone, has its files erased now; a replay after a crash between the
        action and the erasure erases then (the eraser does it once)."""
        trigger = _GONE_AFTER_ACTION.get(action)
        if trigger is not None and self.eraser is not None:
            await self.eraser.purge(
                GoneRow(job.row_key, job.table_id, job.row_id, row.attachments), trigger=trigger
            )

    async def deleted_in_nocodb(self, table_id: str, rows: Sequence[UploadRow]) -> int:
        """Rows NocoDB reports deleted (by a moderator, or by facegate itself): off the carousel, and
        their files scheduled for erasure. Returns how many rows' erasure was scheduled."""
        if not rows:
            return 0
        gone = [GoneRow(row_key(table_id, row), table_id, row.row_id, row.attachments) for row in rows]
        # A key that NocoDB reported deleted and then shows again is a new upload (Ids are reused).
        await asyncio.to_thread(self.queue.mark_gone, [g.row_key for g in gone])
        shown = await self.carousel.shown_ids_of_rows(table_id, [g.row_id for g in gone])
        await self._withdraw(shown, trigger=PurgeTrigger.DELETED_IN_NOCODB)
        if self.eraser is None:
            return 0
        await self.eraser.schedule(gone, trigger=PurgeTrigger.DELETED_IN_NOCODB)
        return len(gone)

    async def found_deleted(self, approval: Approval) -> None:
        """The carousel found the row of an upload it shows deleted in NocoDB: its files are scheduled
        for erasure (the carousel withdraws the upload after this)."""
        await self._erase_later([approval], trigger=PurgeTrigger.DELETED_IN_NOCODB)

    async def no_longer_approved(self, table_id: str, approved_keys: Collection[str]) -> int:
        """The sweep lists the rows NocoDB still shows as approved: the other uploads of ``table_id``
        leave the carousel, and their files are erased. Returns how many were withdrawn."""
        shown = await self.carousel.shown_ids(table_id)
        gone = [approval_id for key, approval_id in shown.items() if key not in approved_keys]
        if len(gone) > MAX_WITHDRAWN_AT_ONCE and len(gone) * 2 > len(shown):
            log.error(
                "approvals sweep would remove %d of %d approved uploads; skipped, check NocoDB",
                len(gone),
                len(shown),
            )
            return 0
        if gone:
            await self._withdraw(gone, trigger=PurgeTrigger.NOT_APPROVED)
            log.info("%d approved uploads are gone from NocoDB; removed from the carousel", len(gone))
        return len(gone)

    async def _withdraw(self, approval_ids: list[int], *, trigger: PurgeTrigger) -> None:
        """Off the carousel, on every instance; their files are scheduled for erasure first (a
        withdrawn approval forgets where they were)."""
        if not approval_ids:
            return
        if self.eraser is not None:
            await self._erase_later(await self.carousel.shown_approvals(approval_ids), trigger=trigger)
        await self.carousel.withdraw(approval_ids)

    async def _erase_later(self, approvals: Sequence[Approval], *, trigger: PurgeTrigger) -> None:
        if self.eraser is not None:
            gone = [GoneRow(a.row_key, a.table_id, a.row_id, a.attachments) for a in approvals]
            await self.eraser.schedule(gone, trigger=trigger)
