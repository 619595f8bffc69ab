"""Erasing a rejected or deleted upload's files from NocoDB's storage, once its row is gone.

NocoDB never removes attachment files when a row is deleted, and serves them to anyone who has the
link. facegate removes them itself: the original and its thumbnails, in NocoDB's local storage
(``FACEGATE_NOCODB_UPLOADS_DIR``) or its S3-compatible bucket (``FACEGATE_S3_*``). A file that a live
row of the table still references (the same upload attached twice, or a forged attachment pointing
at another row's file) is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.config import FieldNames
from app.erasure.local import stored_location
from app.erasure.storage import PurgeRefused, Removed, Storage, StorageUnavailable, file_name, is_object_url
from app.erasure.store import PurgeLog, PurgeRecord, PurgeState, PurgeTrigger
from app.integrations.nocodb.client import NocoDBClient
from app.integrations.nocodb.errors import NocoDBError
from app.metrics import PURGED_BYTES, PURGES

__all__ = ["Eraser", "GoneRow", "PurgeTrigger", "locate"]

log = logging.getLogger(__name__)

_FILTERABLE = re.compile(r"^[\w.-]+$")
SCHEDULED = "Scheduled: the row left NocoDB."
UNCONFIGURED_LOCAL = "FACEGATE_NOCODB_UPLOADS_DIR is not set: the files stay in NocoDB's storage."
UNCONFIGURED_S3 = "FACEGATE_S3_BUCKET is not set: the objects stay in NocoDB's bucket."


def locate(attachment: Mapping[str, Any]) -> str | None:
    """Where the attachment's file is stored: its local location, else its object URL (S3), else
    None. Raises ``PurgeRefused`` for a local path that is not an upload location."""
    local = stored_location(attachment)
    if local is not None:
        return local
    url = attachment.get("url")
    if isinstance(url, str) and url.lower().startswith(("https://", "http://")):
        return url
    return None


@dataclass(frozen=True)
class GoneRow:
    """A row that left NocoDB, with the attachments it had."""

    row_key: str
    table_id: str
    row_id: int
    attachments: Sequence[Mapping[str, Any]]


class Eraser:
    """Erases gone rows' files; ``enabled`` is off when facegate must not delete (action flag or
    dry-run), and then nothing is erased or scheduled."""

    def __init__(
        self,
        *,
        purges: PurgeLog,
        local: Storage | None,
        s3: Storage | None = None,
        nocodb: NocoDBClient,
        fields: FieldNames,
        enabled: bool = True,
    ) -> None:
        self.purges = purges
        self.local = local
        self.s3 = s3
        self.nocodb = nocodb
        self.fields = fields
        self.enabled = enabled
        self._wake = asyncio.Event()
        # One purge at a time: a row's deletion may be reported twice at once (facegate's own delete
        # and NocoDB's after-delete webhook), and a file must be counted once.
        self._lock = asyncio.Lock()

    async def purge(self, row: GoneRow, *, trigger: PurgeTrigger) -> PurgeRecord | None:
        """Remove the files of a row that is gone from NocoDB, unless that was done already; the
        outcome is logged, never raised. None when erasure is off."""
        if not self.enabled:
            return None
        async with self._lock:
            earlier = await asyncio.to_thread(self.purges.for_row, row.row_key)
            if earlier is not None and earlier.state is not PurgeState.PENDING:
                return earlier
            locations, refused = _locations(row.attachments)
            return await self._erase(
                row_key=row.row_key,
                table_id=row.table_id,
                row_id=row.row_id,
                trigger=trigger,
                locations=locations,
                refused=refused,
                earlier=earlier,
            )

    async def schedule(self, rows: Sequence[GoneRow], *, trigger: PurgeTrigger) -> None:
        """Log the rows' purges as pending (what must be erased survives a crash), then let ``run``
        erase them; rows purged or scheduled before are left as they are."""
        if not self.enabled or not rows:
            return
        await asyncio.to_thread(self._schedule, rows, trigger)
        self._wake.set()

    def _schedule(self, rows: Sequence[GoneRow], trigger: PurgeTrigger) -> None:
        for row in rows:
            if self.purges.for_row(row.row_key) is not None:
                continue
            locations, refused = _locations(row.attachments)
            self.purges.record(
                row_key=row.row_key,
                table_id=row.table_id,
                row_id=row.row_id,
                trigger=trigger,
                state=PurgeState.PENDING,
                locations=locations,
                files=0,
                bytes_removed=0,
                detail=" ".join([SCHEDULED, "; ".join(refused)]).strip(),
            )

    async def retry(self, record: PurgeRecord) -> PurgeRecord:
        """Finish a pending purge from the locations it kept (``facegate purge``). Whether a live row
        still uses a file is asked again; the record is updated, its counts added to the earlier ones.
        A purge finished meanwhile (by moderation, or another pass) is left as it is."""
        async with self._lock:
            current = await asyncio.to_thread(self.purges.for_row, record.row_key)
            if current is None or current.state is not PurgeState.PENDING:
                return current or record
            return await self._erase(
                row_key=current.row_key,
                table_id=current.table_id,
                row_id=current.row_id,
                trigger=current.trigger,
                locations=current.locations,
                refused=[],
                earlier=current,
            )

    async def retry_pending(self) -> int:
        """One pass over the pending purges; returns how many are done (or refused) now."""
        finished, after_id = 0, 0
        while records := await asyncio.to_thread(self.purges.pending, after_id=after_id):
            for record in records:
                finished += (await self.retry(record)).state is not PurgeState.PENDING
            after_id = records[-1].id
        return finished

    async def run(self, interval: float) -> None:
        """Erase what is scheduled as soon as it is, and retry what is pending every ``interval``."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.retry_pending()
            except Exception:  # a broken database must not end erasure for the process's life
                log.exception("retrying pending purges failed")

    async def _erase(
        self,
        *,
        row_key: str,
        table_id: str,
        row_id: int,
        trigger: PurgeTrigger,
        locations: list[str],
        refused: list[str],
        earlier: PurgeRecord | None,
    ) -> PurgeRecord:
        state, removed, detail = await self._remove(table_id, locations)
        if refused and state is PurgeState.DONE:
            state, detail = PurgeState.REFUSED, "; ".join(refused)
        record = await asyncio.to_thread(
            self.purges.record,
            row_key=row_key,
            table_id=table_id,
            row_id=row_id,
            trigger=trigger,
            state=state,
            locations=locations,
            files=removed.files,
            bytes_removed=removed.bytes,
            detail=detail,
        )
        # In ``facegate purge`` these count in a registry no one scrapes: harmless, and the log is the truth.
        PURGED_BYTES.inc(removed.bytes)
        _announce(record, waited=_waiting(earlier))
        return record

    async def _remove(self, table_id: str, locations: list[str]) -> tuple[PurgeState, Removed, str | None]:
        if not locations:
            return PurgeState.DONE, Removed(), None
        storages = {location: self._storage(location) for location in locations}
        for location, storage in storages.items():
            if storage is None:
                return (
                    PurgeState.PENDING,
                    Removed(),
                    UNCONFIGURED_S3 if is_object_url(location) else UNCONFIGURED_LOCAL,
                )
        try:
            referenced = await self._still_referenced(table_id, set(locations))
        except NocoDBError as exc:
            return PurgeState.PENDING, Removed(), f"NocoDB could not be asked who uses the files: {exc}"
        removed, kept = Removed(), 0
        for location, storage in storages.items():
            if location in referenced:
                kept += 1
                continue
            assert storage is not None  # every location's storage was checked above
            try:
                removed += await asyncio.to_thread(storage.remove, location)
            except PurgeRefused as exc:
                return PurgeState.REFUSED, removed, str(exc)
            except StorageUnavailable as exc:
                return PurgeState.PENDING, removed, f"The storage could not be reached: {exc}"
            except OSError as exc:
                return PurgeState.PENDING, removed, f"The storage could not be changed: {exc.strerror}"
        detail = f"{kept} files kept: a live row still uses them." if kept else None
        return PurgeState.DONE, removed, detail

    def _storage(self, location: str) -> Storage | None:
        return self.s3 if is_object_url(location) else self.local

    async def _still_referenced(self, table_id: str, locations: set[str]) -> set[str]:
        """The locations among ``locations`` that a row of the table still has in its attachments.

        NocoDB's ``like`` on an attachment column matches the cell's JSON text (ignoring case, ``_``
        a wildcard), so it only narrows the rows down; the exact check is on each parsed attachment.
        """
        used: set[str] = set()
        for location in sorted(locations):
            name = file_name(location)
            # A name NocoDB's filter syntax cannot carry is looked for in every row.
            where = f"({self.fields.image},like,%{name}%)" if _FILTERABLE.match(name) else "(Id,gt,0)"
            async for row in self.nocodb.iter_rows(table_id, where=where, fields=["Id", self.fields.image]):
                cell = row.get(self.fields.image)
                for attachment in cell if isinstance(cell, list) else []:
                    found = _location_or_none(attachment) if isinstance(attachment, Mapping) else None
                    if found is not None and found in locations:
                        used.add(found)
        return used


def _waiting(record: PurgeRecord | None) -> bool:
    """Whether an earlier attempt left this purge pending (a purge only scheduled has had none)."""
    return (
        record is not None
        and record.state is PurgeState.PENDING
        and not (record.detail or "").startswith(SCHEDULED)
    )


def _announce(record: PurgeRecord, *, waited: bool) -> None:
    """Count and log a purge when its state changes: once when it has to wait, once when it ends. A
    retry that still waits says nothing: every new purge retries them all."""
    if waited and record.state is PurgeState.PENDING:
        return
    PURGES.labels(state=record.state).inc()
    if record.state is PurgeState.PENDING:
        log.warning("row %d: purge pending: %s", record.row_id, record.detail)
        return
    log.info(
        "row %d: %spurge %s, %d files, %d bytes",
        record.row_id,
        "pending " if waited else "",
        record.state,
        record.files,
        record.bytes,
    )


def _locations(attachments: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """The attachments' stored locations, and why any was refused."""
    locations: list[str] = []
    refused: list[str] = []
    for attachment in attachments:
        try:
            location = locate(attachment)
        except PurgeRefused as exc:
            refused.append(str(exc))
            continue
        if location is not None:
            locations.append(location)
    return locations, refused


def _location_or_none(attachment: Mapping[str, Any]) -> str | None:
    try:
        return locate(attachment)
    except PurgeRefused:
        return None
