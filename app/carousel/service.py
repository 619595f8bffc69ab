"""The carousel: approved uploads, published and withdrawn as their lifecycle says.

The browser never talks to NocoDB. facegate makes JPEG renditions (``app.faces.renditions``) of
an approved image from the picture moderation verified (the face worker renders the pixels it
decoded), and serves those, so the carousel keeps working when NocoDB's signed links expire or
NocoDB restarts.

The carousel owns its records (``app.carousel.store``) and nothing else: what happens to an upload
that is approved, replaced, no longer approved or gone from NocoDB (its files erased too) is said by
``app.moderation.lifecycle``, which publishes and withdraws here. The carousel sits below moderation
and does not import it: when serving a picture shows that its row was deleted in NocoDB, it tells
``found_deleted`` (the lifecycle sets it) before it withdraws the upload.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from app.carousel.store import Approval, ApprovalStore, ApprovalsVersion, NewApproval
from app.errors import NotFound, OriginalUnavailable
from app.faces.renditions import Rendition, Renditions
from app.integrations.nocodb.client import NocoDBClient
from app.integrations.nocodb.errors import AttachmentRefused, NocoDBError

__all__ = ["ApprovalPage", "Carousel", "FoundDeleted"]


@dataclass(frozen=True)
class ApprovalPage:
    items: list[Approval]
    next_cursor: int | None


# Told of an approved upload whose row the carousel found deleted in NocoDB, before it is withdrawn.
FoundDeleted = Callable[[Approval], Awaitable[None]]


class Carousel:
    def __init__(self, *, store: ApprovalStore, nocodb: NocoDBClient | None, renditions: Renditions) -> None:
        self.store = store
        self.nocodb = nocodb
        self.renditions = renditions
        # Set by the upload's lifecycle (``app.moderation.lifecycle``), which erases the files of a
        # row that left NocoDB; None: the carousel only withdraws the upload.
        self.found_deleted: FoundDeleted | None = None

    # What the upload's lifecycle tells the carousel.

    async def publish(self, approval: NewApproval, renditions: dict[Rendition, bytes] | None = None) -> int:
        """Show an approved upload; publishing it again changes nothing. Returns its approval id.

        ``renditions`` are made from the very picture moderation verified, so the carousel never
        shows a file swapped in NocoDB after the decision and needs no link to NocoDB (signed links
        expire). Without them (a replay after a crash), they are made from NocoDB's copy on first
        request. An earlier upload of the row stays shown until it is withdrawn.
        """
        return await asyncio.to_thread(self.store.add, approval, renditions)

    async def withdraw(self, approval_ids: Sequence[int]) -> None:
        """Take uploads off the carousel, with their renditions (on every instance: they live in the
        database). Where their files were is forgotten with them."""
        await asyncio.to_thread(self.store.remove, approval_ids)

    async def shows_any(self, table_id: str) -> bool:
        """Whether any upload of ``table_id`` is on the carousel (nothing to check in NocoDB if not)."""
        return bool(await asyncio.to_thread(self.store.live_keys, table_id))

    async def shows(self, row_key: str) -> bool:
        """Whether the upload ``row_key`` is on the carousel."""
        return await asyncio.to_thread(self.store.shows, row_key)

    async def shown_keys(self, table_id: str) -> set[str]:
        """The row keys of the uploads of ``table_id`` on the carousel: decided, whatever else says."""
        return set(await asyncio.to_thread(self.store.live_keys, table_id))

    async def shown_ids(self, table_id: str) -> dict[str, int]:
        """Row key -> approval id of the uploads of ``table_id`` on the carousel."""
        return await asyncio.to_thread(self.store.live_keys, table_id)

    async def shown_ids_of_rows(self, table_id: str, row_ids: Sequence[int]) -> list[int]:
        """The approval ids of the uploads of these rows on the carousel, whichever upload of its row
        each shows."""
        return await asyncio.to_thread(self.store.live_ids_of_rows, table_id, row_ids)

    async def shown_approvals(self, approval_ids: Sequence[int]) -> list[Approval]:
        """The approvals among ``approval_ids`` still on the carousel, with their attachments."""
        return await asyncio.to_thread(self.store.live, approval_ids)

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
                    raise OriginalUnavailable(
                        f"The image of approved upload {approval.id} cannot be fetched."
                    ) from exc
        except NocoDBError as exc:
            raise OriginalUnavailable("NocoDB is unavailable; the image will be fetched later.") from exc
        if self.found_deleted is not None:
            await self.found_deleted(approval)
        await self.withdraw([approval.id])
        raise NotFound(f"Approved upload {approval.id} was deleted in NocoDB.")
