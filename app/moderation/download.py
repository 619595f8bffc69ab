"""Getting an attachment's bytes for moderation, through the NocoDB client's guarded stream.

An HTTP refusal of the file (expired signed link, private bucket, secure attachments) is no verdict
on the picture: the row is read again for fresh links and the download tried once more; if NocoDB
still refuses, the job fails for an operator to see, and nothing is deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.config import FieldNames
from app.integrations.nocodb.client import NocoDBClient
from app.integrations.nocodb.errors import AttachmentRefused, NocoDBRequestError
from app.moderation.rows import UploadRow, parse_row, same_upload

__all__ = ["Downloader", "RowGone"]


class RowGone(Exception):
    """The row was deleted, or its Id reused by another upload, while facegate was deciding it."""


class Downloader:
    def __init__(self, *, nocodb: NocoDBClient, fields: FieldNames, max_bytes: int) -> None:
        self.nocodb = nocodb
        self.fields = fields
        self.max_bytes = max_bytes

    async def fetch(self, table_id: str, row: UploadRow, attachment: Mapping[str, Any]) -> bytes:
        """The attachment's bytes. ``AttachmentRefused`` only for a content problem (size, location)."""
        try:
            return await self.nocodb.download(attachment, max_bytes=self.max_bytes)
        except AttachmentRefused as exc:
            if exc.status_code is None:
                raise
        current = await self.nocodb.get_row(table_id, row.row_id)
        if current is None or not same_upload(current, row, self.fields):
            raise RowGone
        fresh = next(
            (a for a in parse_row(current, self.fields).attachments if a.get("id") == attachment.get("id")),
            attachment,
        )
        try:
            return await self.nocodb.download(fresh, max_bytes=self.max_bytes)
        except AttachmentRefused as exc:
            if exc.status_code is None:
                raise
            raise NocoDBRequestError(
                f"NocoDB refuses the attachment: {exc.message}", status_code=exc.status_code
            ) from exc
