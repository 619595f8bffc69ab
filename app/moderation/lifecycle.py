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

A delete event is a nudge, not a fact: anyone holding the webhook secret can send one, and a late
one may name an Id NocoDB has given to a new upload since. Before anything is withdrawn or erased,
NocoDB is asked for the row: an upload is gone only when NocoDB no longer has it under its full key
(``app.moderation.rows.same_upload``).

The carousel sits below moderation and does not import it. When it finds, serving a picture, that the
row was deleted in NocoDB, it calls its ``found_deleted`` callback, which the lifecycle sets to its
own ``found_deleted`` when it is built (so no composition can forget it), and then withdraws the
upload itself. A callback rather than routing the picture through the lifecycle: readers of the
carousel keep talking to the carousel alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from app.carousel.service import Carousel
from app.carousel.store import Approval, NewApproval
from app.config import FieldNames
from app.erasure.service import Eraser, GoneRow
from app.erasure.store import PurgeTrigger
from app.faces.renditions import Rendition
from app.integrations.nocodb.client import NocoDBClient
from app.integrations.nocodb.errors import AttachmentRefused, NocoDBError
from app.moderation.decisions import DecisionLog
from app.moderation.download import Downloader, RowGone
from app.moderation.holds import Held
from app.moderation.queue import Job, JobQueue
from app.moderation.rows import UploadRow, row_key, same_upload
from app.outcomes import Action

__all__ = ["MAX_WITHDRAWN_AT_ONCE", "UploadLifecycle"]

log = logging.getLogger(__name__)

# Most of the carousel vanishing at once is more likely a changed NocoDB than moderators at work.
MAX_WITHDRAWN_AT_ONCE = 20
# Why the files of a row that facegate's action found gone from NocoDB are erased.
_GONE_AFTER_ACTION = {Action.DELETED: PurgeTrigger.DELETED, Action.ALREADY_GONE: PurgeTrigger.ALREADY_GONE}
# Rows of one delete event read back from NocoDB at a time.
CHECKS_AT_ONCE = 8


class UploadLifecycle:
    """Publishes, withdraws and erases uploads; ``eraser`` is None without NocoDB settings (then
    nothing is erased or scheduled), and so is ``nocodb`` (then delete events cannot be checked and
    change nothing)."""

    def __init__(
        self,
        *,
        queue: JobQueue,
        carousel: Carousel,
        eraser: Eraser | None,
        decisions: DecisionLog,
        nocodb: NocoDBClient | None,
        fields: FieldNames,
    ) -> None:
        self.queue = queue
        self.carousel = carousel
        self.eraser = eraser
        self.decisions = decisions
        self.nocodb = nocodb
        self.fields = fields
        carousel.found_deleted = self.found_deleted

    async def approved(self, approval: NewApproval, renditions: dict[Rendition, bytes] | None) -> None:
        """An upload approved by facegate or a moderator is shown. It replaces the row's earlier upload
        (swapped by its owner): that one leaves the carousel, and its files are erased."""
        earlier = await self.carousel.shown_ids_of_rows(approval.table_id, [approval.row_id])
        approval_id = await self.carousel.publish(approval, renditions)
        await self._withdraw([i for i in earlier if i != approval_id], trigger=PurgeTrigger.NOT_APPROVED)

    async def approved_as_in_nocodb(
        self, job: Job, row: UploadRow, politician: str | None, downloader: Downloader, *, why: str
    ) -> bool:
        """An upload approved without renditions from facegate's own check (a moderator's approval, a
        restored one) is shown, rendered now from NocoDB's copy of its first picture: what the
        moderator saw. False (logged with ``why``) when the picture is unavailable or the row gone."""
        if row.attachments:
            try:
                data = await downloader.fetch(job.table_id, row, row.attachments[0])
            except (AttachmentRefused, RowGone) as exc:
                reason = getattr(exc, "message", "the row is gone")
                log.warning("job %d: row %d %s, picture unavailable: %s", job.id, job.row_id, why, reason)
                return False
            renditions = await asyncio.to_thread(self.carousel.renditions.make, data)
            approval = NewApproval(job.row_key, job.table_id, job.row_id, politician or "", row.attachments)
            await self.approved(approval, renditions)
        return True

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
        """A delete event names ``rows`` (a moderator's deletion, facegate's own, or a forgery): a nudge
        to check them. The uploads facegate shows or decided under those Ids that NocoDB no longer has
        (no row, or another upload under the Id) leave the carousel and have their files scheduled for
        erasure; an upload NocoDB still has is left alone, whatever the event says. Returns how many
        uploads' erasure was scheduled."""
        if not rows:
            return 0
        named = {row_key(table_id, row): row for row in rows}
        shown = await self.carousel.shown_approvals(
            await self.carousel.shown_ids_of_rows(table_id, list({row.row_id for row in rows}))
        )
        # Only what facegate itself knows may be erased: a decided upload the event names by its full
        # key (the event's attachments are then that upload's), or an upload the carousel shows under
        # a named Id (the carousel's own record of its files).
        decided = await asyncio.to_thread(self.decisions.settled_many, list(named))
        # A held upload is undecided: its job runs again now, finds the row gone and erases its files.
        await asyncio.to_thread(self.queue.release_rows, [key for key in named if key not in decided])
        known = {key: named[key].row_id for key in decided} | {a.row_key: a.row_id for a in shown}
        gone = await self._gone_from_nocodb(table_id, known)
        if untouched := sorted({row.row_id for key, row in named.items() if key not in gone}):
            log.info("delete event: rows %s left as they are (still in NocoDB, or never decided)", untouched)
        if not gone:
            return 0
        # A key that NocoDB reported deleted and then shows again is a new upload (Ids are reused).
        await asyncio.to_thread(self.queue.mark_gone, gone)
        await self._withdraw(
            [a.id for a in shown if a.row_key in gone], trigger=PurgeTrigger.DELETED_IN_NOCODB
        )
        log.info("delete event: %d uploads gone from NocoDB, off the carousel", len(gone))
        if self.eraser is None:
            return 0
        erased = [GoneRow(k, table_id, named[k].row_id, named[k].attachments) for k in gone if k in named]
        await self.eraser.schedule(erased, trigger=PurgeTrigger.DELETED_IN_NOCODB)
        return len(gone)

    async def _gone_from_nocodb(self, table_id: str, uploads: Mapping[str, int]) -> list[str]:
        """The keys of ``uploads`` (key -> row Id) that NocoDB no longer has: no row under the Id, or
        another upload. Nothing, when NocoDB cannot be asked (no settings, or an error): the sweep
        withdraws approvals NocoDB lost later."""
        if self.nocodb is None:
            log.warning("delete event ignored: without NocoDB settings it cannot be checked")
            return []
        slots = asyncio.Semaphore(CHECKS_AT_ONCE)
        ids = sorted(set(uploads.values()))
        try:
            current = await asyncio.gather(*(self._row(self.nocodb, table_id, i, slots) for i in ids))
        except NocoDBError as exc:
            log.warning("delete event not checked, NocoDB answered: %s", exc.message)
            return []
        now = dict(zip(ids, current, strict=True))
        try:
            return [
                key
                for key, row_id in uploads.items()
                if same_upload(now[row_id], key, table_id=table_id, fields=self.fields) is None
            ]
        except Held as held:  # a column missing or of another type: the rows cannot be compared
            log.warning("delete event not checked: %s", held.detail)
            return []

    @staticmethod
    async def _row(
        nocodb: NocoDBClient, table_id: str, row_id: int, slots: asyncio.Semaphore
    ) -> Mapping[str, Any] | None:
        """NocoDB's row ``row_id`` now (None: no such row), ``slots`` requests at a time."""
        async with slots:
            return await nocodb.get_row(table_id, row_id)

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
