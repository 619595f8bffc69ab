"""The carousel: approved uploads, published by moderation and withdrawn when they leave NocoDB.

The browser never talks to NocoDB. facegate makes JPEG renditions (``app.faces.renditions``) of
an approved image from the picture moderation verified (the face worker renders the pixels it
decoded), and serves those, so the carousel keeps working when NocoDB's signed links expire or
NocoDB restarts.

Moderation talks to the carousel through ``publish`` (a row was approved), ``keep_only`` (these rows
are still approved in NocoDB; withdraw the others) and ``withdraw_rows`` (these rows were deleted).
A withdrawn upload's files are handed to the eraser (``app.erasure``): a row that left NocoDB must
not leave its picture behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass

from app.carousel.store import Approval, ApprovalStore, ApprovalsVersion, NewApproval
from app.erasure.service import Eraser, GoneRow
from app.erasure.store import PurgeTrigger
from app.errors import NotFound, UpstreamUnavailable
from app.faces.renditions import Rendition, Renditions
from app.integrations.nocodb.client import NocoDBClient
from app.integrations.nocodb.errors import AttachmentRefused, NocoDBError

__all__ = ["ApprovalPage", "Carousel"]

log = logging.getLogger(__name__)

# Most of the carousel vanishing at once is more likely a changed NocoDB than moderators at work.
MAX_WITHDRAWN_AT_ONCE = 20


@dataclass(frozen=True)
class ApprovalPage:
    items: list[Approval]
    next_cursor: int | None


class Carousel:
    def __init__(
        self,
        *,
        store: ApprovalStore,
        nocodb: NocoDBClient | None,
        renditions: Renditions,
        eraser: Eraser | None = None,
    ) -> None:
        self.store = store
        self.nocodb = nocodb
        self.renditions = renditions
        self.eraser = eraser

    # What moderation tells the carousel.

    async def publish(self, approval: NewApproval, renditions: dict[Rendition, bytes] | None = None) -> None:
        """Show an approved upload; publishing it again changes nothing.

        ``renditions`` are made from the very picture moderation verified, so the carousel never
        shows a file swapped in NocoDB after the decision and needs no link to NocoDB (signed links
        expire). Without them (a replay after a crash), they are made from NocoDB's copy on first
        request.
        """
        # A row shows one upload: the picture it had before (swapped by its owner) leaves the carousel.
        earlier = await asyncio.to_thread(self.store.live_ids_of_rows, approval.table_id, [approval.row_id])
        approval_id = await asyncio.to_thread(self.store.add, approval, renditions)
        replaced = [i for i in earlier if i != approval_id]
        if replaced:
            await self.withdraw(replaced, trigger=PurgeTrigger.NOT_APPROVED)

    async def shows_any(self, table_id: str) -> bool:
        """Whether any upload of ``table_id`` is on the carousel (nothing to check in NocoDB if not)."""
        return bool(await asyncio.to_thread(self.store.live_keys, table_id))

    async def shows(self, row_key: str) -> bool:
        """Whether the upload ``row_key`` is on the carousel."""
        return await asyncio.to_thread(self.store.shows, row_key)

    async def shown_keys(self, table_id: str) -> set[str]:
        """The row keys of the uploads of ``table_id`` on the carousel: decided, whatever else says."""
        return set(await asyncio.to_thread(self.store.live_keys, table_id))

    async def keep_only(self, table_id: str, approved_keys: Collection[str]) -> int:
        """Withdraw the approvals of ``table_id`` whose row key is not in ``approved_keys`` (the rows
        NocoDB still shows as approved); returns how many were withdrawn."""
        live = await asyncio.to_thread(self.store.live_keys, table_id)
        gone = [approval_id for key, approval_id in live.items() if key not in approved_keys]
        if len(gone) > MAX_WITHDRAWN_AT_ONCE and len(gone) * 2 > len(live):
            log.error(
                "approvals sweep would remove %d of %d approved uploads; skipped, check NocoDB",
                len(gone),
                len(live),
            )
            return 0
        if gone:
            await self.withdraw(gone, trigger=PurgeTrigger.NOT_APPROVED)
            log.info("%d approved uploads are gone from NocoDB; removed from the carousel", len(gone))
        return len(gone)

    async def withdraw_rows(self, table_id: str, row_ids: Collection[int]) -> int:
        """Withdraw the approvals of rows deleted in NocoDB, whichever upload of the row they show;
        returns how many there were."""
        gone = await asyncio.to_thread(self.store.live_ids_of_rows, table_id, list(row_ids))
        if gone:
            await self.withdraw(gone, trigger=PurgeTrigger.DELETED_IN_NOCODB)
        return len(gone)

    async def withdraw(self, approval_ids: list[int], *, trigger: PurgeTrigger) -> None:
        """Take uploads off the carousel, with their renditions (on every instance: they live in the
        database); their files in NocoDB's storage are scheduled for erasure first (the eraser keeps
        any file a live row still uses)."""
        if self.eraser is not None:
            approvals = await asyncio.to_thread(self.store.live, approval_ids)
            await self.eraser.schedule(
                [GoneRow(a.row_key, a.table_id, a.row_id, a.attachments) for a in approvals],
                trigger=trigger,
            )
        await asyncio.to_thread(self.store.remove, approval_ids)

    # What the carousel's readers ask.

    async def page(self, *, politician: str | None, limit: int, cursor: int | None) -> ApprovalPage:
        items = await asyncio.to_thread(
            self.store.approvals, politician=politician, limit=limit + 1, before_id=cursor
        )
        more = len(items) > limit
        items = items[:limit]
        return ApprovalPage(items=items, next_cursor=items[-1].id if more and items else None)

    async def version(self) -> ApprovalsVersion:
        return await asyncio.to_thread(self.store.version)

    async def image(self, approval_id: int, rendition: Rendition) -> bytes:
        """The rendition's JPEG bytes; made from NocoDB's original on first use when moderation did
        not make them (a replay after a crash)."""
        kept = await asyncio.to_thread(self.store.rendition, approval_id, rendition)
        if kept is not None:
            return kept
        approval = await asyncio.to_thread(self.store.approval, approval_id)
        if approval is None:
            raise NotFound(f"No approved upload {approval_id}.")
        original = await self._original(approval)
        made = await asyncio.to_thread(self.renditions.make, original)
        if not await asyncio.to_thread(self.store.keep_renditions, approval_id, made):
            raise NotFound(f"No approved upload {approval_id}.")
        return made[rendition]

    async def _original(self, approval: Approval) -> bytes:
        if self.nocodb is None or not approval.attachments:
            raise NotFound(f"The image of approved upload {approval.id} is not available.")
        try:
            try:
                return await self.nocodb.download(
                    approval.attachments[0], max_bytes=self.renditions.limits.max_bytes
                )
            except AttachmentRefused as exc:
                if exc.status_code != 404 or await self.nocodb.get_row(approval.table_id, approval.row_id):
                    raise UpstreamUnavailable(
                        f"The image of approved upload {approval.id} cannot be fetched."
                    ) from exc
        except NocoDBError as exc:
            raise UpstreamUnavailable("NocoDB is unavailable; the image will be fetched later.") from exc
        await self.withdraw([approval.id], trigger=PurgeTrigger.DELETED_IN_NOCODB)
        raise NotFound(f"Approved upload {approval.id} was deleted in NocoDB.")
