"""The carousel's data: approved uploads, and the image renditions facegate serves for them.

The browser never talks to NocoDB. facegate fetches an approved image from NocoDB once, re-encodes
it as a JPEG (which also drops the uploader's EXIF data, GPS position included) at two sizes, and
keeps those renditions on disk, so the carousel keeps working when NocoDB's signed links expire or
NocoDB restarts. When a moderator deletes an approved row in NocoDB, the sweep (or a failed fetch)
removes the approval and its renditions.
"""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from PIL import Image

from app.errors import NotFound, ServiceError, UpstreamUnavailable
from app.faces.intake import ImageRejected, Limits, decode
from app.integrations.nocodb.client import NocoDBClient
from app.integrations.nocodb.errors import AttachmentRefused, NocoDBError
from app.moderation.store import Approval, ApprovalsVersion, Store

log = logging.getLogger(__name__)

JPEG_QUALITY = 85


class Rendition(StrEnum):
    IMAGE = "image"
    THUMBNAIL = "thumbnail"


RENDITION_SIDES = {Rendition.IMAGE: 1600, Rendition.THUMBNAIL: 480}


@dataclass(frozen=True)
class Page:
    items: list[Approval]
    next_cursor: int | None


class Renditions:
    """JPEG files ``<approval id>-<rendition>.jpg`` in one folder."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, approval_id: int, rendition: Rendition) -> Path:
        return self.directory / f"{approval_id}-{rendition.value}.jpg"

    def discard(self, approval_ids: list[int]) -> None:
        for approval_id in approval_ids:
            for rendition in Rendition:
                self.path(approval_id, rendition).unlink(missing_ok=True)


class Carousel:
    def __init__(
        self, *, store: Store, nocodb: NocoDBClient | None, renditions: Renditions, limits: Limits
    ) -> None:
        self.store = store
        self.nocodb = nocodb
        self.renditions = renditions
        self.limits = limits

    async def page(self, *, politician: str | None, limit: int, cursor: int | None) -> Page:
        items = await asyncio.to_thread(
            self.store.approvals, politician=politician, limit=limit + 1, before_id=cursor
        )
        more = len(items) > limit
        items = items[:limit]
        return Page(items=items, next_cursor=items[-1].id if more and items else None)

    async def version(self) -> ApprovalsVersion:
        return await asyncio.to_thread(self.store.approvals_version)

    async def image(self, approval_id: int, rendition: Rendition) -> bytes:
        """The rendition's JPEG bytes, made from NocoDB's original on first use."""
        approval = await asyncio.to_thread(self.store.approval, approval_id)
        if approval is None:
            raise NotFound(f"No approved upload {approval_id}.")
        path = self.renditions.path(approval_id, rendition)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            pass
        original = await self._original(approval)
        await asyncio.to_thread(self._render_all, approval_id, original)
        return await asyncio.to_thread(path.read_bytes)

    async def _original(self, approval: Approval) -> bytes:
        if self.nocodb is None or not approval.attachments:
            raise NotFound(f"The image of approved upload {approval.id} is not available.")
        try:
            try:
                return await self.nocodb.download(approval.attachments[0], max_bytes=self.limits.max_bytes)
            except AttachmentRefused as exc:
                if exc.status_code != 404 or await self.nocodb.get_row(approval.table_id, approval.row_id):
                    raise UpstreamUnavailable(
                        f"The image of approved upload {approval.id} cannot be fetched."
                    ) from exc
        except NocoDBError as exc:
            raise UpstreamUnavailable("NocoDB is unavailable; the image will be fetched later.") from exc
        await asyncio.to_thread(self.store.remove_approvals, [approval.id])
        await asyncio.to_thread(self.renditions.discard, [approval.id])
        raise NotFound(f"Approved upload {approval.id} was deleted in NocoDB.")

    def _render_all(self, approval_id: int, original: bytes) -> None:
        try:
            decoded = decode(original, self.limits)
        except ImageRejected as exc:
            raise ServiceError(f"Approved upload {approval_id} cannot be rendered: {exc.message}") from exc
        self.renditions.directory.mkdir(parents=True, exist_ok=True)
        for rendition, side in RENDITION_SIDES.items():
            image = decoded.image.copy()
            image.thumbnail((side, side), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
            target = self.renditions.path(approval_id, rendition)
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(out.getvalue())
            tmp.replace(target)  # concurrent first requests may both render; the rename is atomic
