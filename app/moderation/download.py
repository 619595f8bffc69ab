"""Getting a row and its attachments' bytes for moderation, from NocoDB's API and storage.

The row is read from NocoDB's records API: the trigger's copy of it (webhook, sweep) only names it.
An HTTP refusal of a file (expired signed link) is no verdict on the picture yet: the row is read
again for fresh links and the download tried once more. Every file downloaded was proved first to be
in NocoDB's storage, written by the row's own submission (``app.erasure.provenance``; a forged
location is rejected there, before any download), so a second refusal (a 404 from a proxy that does
not pass ``/download``, facegate's credentials refused) and outages (5xx, timeouts) are not the
upload's fault: the job waits and is retried. Only what the picture itself is (too large, a
redirect off NocoDB) rejects it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.config import FieldNames
from app.erasure.files import location_or_none, same_file
from app.integrations.nocodb.client import NocoDBClient
from app.integrations.nocodb.errors import AttachmentRefused, NocoDBUnavailable
from app.moderation.rows import UploadRow, row_key, same_upload

__all__ = ["Downloader", "RowGone"]


CREDENTIALS_REFUSED = frozenset({401, 403})


class RowGone(Exception):
    """The row was deleted, or its Id reused by another upload, while facegate was deciding it."""


class Downloader:
    def __init__(self, *, nocodb: NocoDBClient, fields: FieldNames, max_bytes: int) -> None:
        self.nocodb = nocodb
        self.fields = fields
        self.max_bytes = max_bytes

    async def current(self, table_id: str, row: UploadRow) -> UploadRow | None:
        """The row as NocoDB has it now; None when it is gone, or is another upload by now (an Id
        reused, or its attachments changed: that upload has a job of its own)."""
        return await self.current_by_key(table_id, row.row_id, row_key(table_id, row))

    async def current_by_key(self, table_id: str, row_id: int, key: str) -> UploadRow | None:
        """The row as NocoDB has it now, if it is still the upload ``key`` (a finished job keeps its
        key, not its attachments); None when it is gone or another upload by now."""
        current = await self.nocodb.get_row(table_id, row_id)
        return same_upload(current, key, table_id=table_id, fields=self.fields)

    async def present(self, table_id: str, row_id: int, key: str) -> bool:
        """Whether the upload ``key`` is still in NocoDB (the eraser asks before it erases)."""
        return await self.current_by_key(table_id, row_id, key) is not None

    async def fetch(self, table_id: str, row: UploadRow, attachment: Mapping[str, Any]) -> bytes:
        """The attachment's bytes, from the locations that name the file proved the row's own
        (``same_file``) only. ``AttachmentRefused`` only for a content problem (size, location)."""
        try:
            return await self.nocodb.download(same_file(attachment), max_bytes=self.max_bytes)
        except AttachmentRefused as exc:
            if exc.status_code is None:
                raise
        current = await self.current(table_id, row)
        if current is None:
            raise RowGone
        fresh = next((a for a in current.attachments if _same_attachment(a, attachment)), attachment)
        try:  # the fresh links of the file proved, whatever else the row says now
            return await self.nocodb.download(
                same_file(fresh, location_or_none(attachment)), max_bytes=self.max_bytes
            )
        except AttachmentRefused as exc:
            if exc.status_code is None:
                raise
            why = "refuses facegate" if exc.status_code in CREDENTIALS_REFUSED else "does not serve it"
            raise NocoDBUnavailable(
                f"The picture is in NocoDB's storage, and NocoDB {why} ({exc.status_code}).",
                status_code=exc.status_code,
            ) from exc


def _same_attachment(fresh: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    """The fresh copy of ``old`` in the row read again: the same id, or without ids the same file."""
    if old.get("id") is not None:
        return bool(fresh.get("id") == old.get("id"))
    return location_or_none(fresh) == location_or_none(old) is not None
