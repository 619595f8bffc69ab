"""Erasing an upload's files from NocoDB's storage, once its row has left NocoDB.

NocoDB never removes attachment files when a row is deleted, and serves them to anyone who has the
link. facegate removes them itself: the original and its thumbnails, in NocoDB's local storage
(``FACEGATE_NOCODB_UPLOADS_DIR``) or its S3-compatible bucket (``FACEGATE_S3_*``). Only the files
the upload claimed, when facegate proved them its own (``app.erasure.provenance``), are erased: never
a file a row named without uploading it. An operator's file that another row still names is kept.

A purge asked for while the row is still in NocoDB (its approval withdrawn: a moderator set it back to
review, or rejected it and facegate has not deleted it yet) erases nothing: it is ``kept``, with its
locations, and looked at again when the row leaves NocoDB (facegate's own deletion, the delete
webhook, the carousel finding it gone) and at each periodic pass. What it costs does not depend on
the files' names: one read of the row, and one filtered lookup per operator file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.config import FieldNames
from app.erasure.claims import ClaimLog, UploadSource
from app.erasure.files import StoredFiles, locate
from app.erasure.provenance import rows_naming
from app.erasure.storage import PurgeRefused, Removed, StorageUnavailable, is_object_url
from app.erasure.store import PurgeLog, PurgeRecord, PurgeState, PurgeTrigger
from app.integrations.nocodb.client import NocoDBClient
from app.integrations.nocodb.errors import NocoDBError
from app.metrics import PURGED_BYTES, PURGES
from app.moderation.holds import Held

__all__ = ["Eraser", "GoneRow", "PurgeTrigger", "RowPresence"]

log = logging.getLogger(__name__)

SCHEDULED = "Scheduled: the row left NocoDB."
UNCONFIGURED_LOCAL = "FACEGATE_NOCODB_UPLOADS_DIR is not set: the files stay in NocoDB's storage."
UNCONFIGURED_S3 = "FACEGATE_S3_BUCKET is not set: the objects stay in NocoDB's bucket."
KEPT_WHILE_LIVE = "Kept: the row is still in NocoDB; its files are erased when it leaves."
# A purge in these states is over; the others are looked at again.
FINAL = frozenset({PurgeState.DONE, PurgeState.REFUSED})


# (table_id, row_id, row_key) -> whether that upload is still in NocoDB; ``NocoDBError`` when NocoDB
# cannot say. Moderation's, which owns what "the same upload" is (``app.moderation.rows``).
RowPresence = Callable[[str, int, str], Awaitable[bool]]


@dataclass(frozen=True)
class GoneRow:
    """A row that left NocoDB (or whose upload left the carousel), with the attachments it had."""

    row_key: str
    table_id: str
    row_id: int
    attachments: Sequence[Mapping[str, Any]]


class RowLocks:
    """One lock per upload: a row's deletion may be reported twice at once (facegate's own delete and
    NocoDB's after-delete webhook), and its files must be counted once; other uploads never wait."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: Counter[str] = Counter()

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        self._users[key] += 1
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]


class Eraser:
    """Erases gone rows' files; ``enabled`` is off when facegate must not delete (action flag or
    dry-run), and then nothing is erased or scheduled."""

    def __init__(
        self,
        *,
        purges: PurgeLog,
        claims: ClaimLog,
        files: StoredFiles,
        nocodb: NocoDBClient,
        fields: FieldNames,
        present: RowPresence,
        enabled: bool = True,
    ) -> None:
        self.purges = purges
        self.claims = claims
        self.files = files
        self.nocodb = nocodb
        self.fields = fields
        self.present = present
        self.enabled = enabled
        self._wake = asyncio.Event()
        self._locks = RowLocks()

    async def purge(self, row: GoneRow, *, trigger: PurgeTrigger) -> PurgeRecord | None:
        """Remove the files of a row that left NocoDB, unless that was done already; a purge kept
        while the row was there is looked at again. The outcome is logged, never raised. None when
        erasure is off."""
        if not self.enabled:
            return None
        async with self._locks.hold(row.row_key):
            earlier = await asyncio.to_thread(self.purges.for_row, row.row_key)
            if earlier is not None and earlier.state in FINAL:
                return earlier
            locations, refused = _locations(row.attachments)
            known = earlier.locations if earlier is not None else []
            return await self._erase(row, trigger, _merged(known, locations), refused, earlier)

    async def schedule(self, rows: Sequence[GoneRow], *, trigger: PurgeTrigger) -> None:
        """Log the rows' purges as pending (what must be erased survives a crash), then let ``run``
        erase them; a kept purge is opened again, a finished one is left as it is."""
        if not self.enabled or not rows:
            return
        await asyncio.to_thread(self._schedule, rows, trigger)
        self._wake.set()

    def _schedule(self, rows: Sequence[GoneRow], trigger: PurgeTrigger) -> None:
        for row in rows:
            earlier = self.purges.for_row(row.row_key)
            if earlier is not None and earlier.state is not PurgeState.KEPT:
                continue
            locations, refused = _locations(row.attachments)
            self.purges.record(
                row_key=row.row_key,
                table_id=row.table_id,
                row_id=row.row_id,
                trigger=trigger,
                state=PurgeState.PENDING,
                locations=_merged(earlier.locations if earlier else [], locations),
                files=0,
                bytes_removed=0,
                detail=" ".join([SCHEDULED, "; ".join(refused)]).strip(),
            )

    async def retry(self, record: PurgeRecord) -> PurgeRecord:
        """Finish a pending or kept purge from the locations it kept (``facegate purge``, the periodic
        pass). The record is updated, its counts added to the earlier ones. A purge finished
        meanwhile (by moderation, or another pass) is left as it is."""
        async with self._locks.hold(record.row_key):
            current = await asyncio.to_thread(self.purges.for_row, record.row_key)
            if current is None or current.state in FINAL:
                return current or record
            gone = GoneRow(current.row_key, current.table_id, current.row_id, [])
            return await self._erase(gone, current.trigger, current.locations, [], current)

    async def retry_pending(self) -> int:
        """One pass over the pending and kept purges; returns how many are done (or refused) now."""
        finished, after_id = 0, 0
        while records := await asyncio.to_thread(self.purges.waiting, after_id=after_id):
            for record in records:
                finished += (await self.retry(record)).state in FINAL
            after_id = records[-1].id
        return finished

    async def run(self, interval: float) -> None:
        """Erase what is scheduled as soon as it is, and retry what waits every ``interval``."""
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
        row: GoneRow,
        trigger: PurgeTrigger,
        locations: list[str],
        refused: list[str],
        earlier: PurgeRecord | None,
    ) -> PurgeRecord:
        owned = await asyncio.to_thread(self.claims.owned, row.row_key, locations)
        foreign = len(set(locations) - set(owned))
        state, removed, detail = PurgeState.DONE, Removed(), None
        if owned:
            state, removed, detail = await self._erase_owned(row, owned)
        if state is PurgeState.DONE:
            if refused:
                state, detail = PurgeState.REFUSED, "; ".join(refused)
            elif foreign:
                detail = " ".join(filter(None, [detail, f"{foreign} files kept: not this upload's own."]))
            await asyncio.to_thread(self.claims.release, row.row_key)
        record = await asyncio.to_thread(
            self.purges.record,
            row_key=row.row_key,
            table_id=row.table_id,
            row_id=row.row_id,
            trigger=trigger,
            state=state,
            locations=locations,
            files=removed.files,
            bytes_removed=removed.bytes,
            detail=detail,
        )
        # In ``facegate purge`` these count in a registry no one scrapes: harmless, and the log is the truth.
        PURGED_BYTES.inc(removed.bytes)
        _announce(record, earlier)
        return record

    async def _erase_owned(
        self, row: GoneRow, owned: Mapping[str, UploadSource]
    ) -> tuple[PurgeState, Removed, str | None]:
        """Erase the upload's own files once its row has left NocoDB."""
        for location in owned:
            if self.files.storage(location) is None:
                unset = UNCONFIGURED_S3 if is_object_url(location) else UNCONFIGURED_LOCAL
                return PurgeState.PENDING, Removed(), unset
        try:
            if await self.present(row.table_id, row.row_id, row.row_key):
                return PurgeState.KEPT, Removed(), KEPT_WHILE_LIVE
        except NocoDBError as exc:
            return PurgeState.PENDING, Removed(), f"NocoDB could not be asked whether the row is gone: {exc}"
        except Held as exc:  # the table's columns cannot be read as configured: it cannot tell
            return PurgeState.PENDING, Removed(), f"Whether the row is gone cannot be told: {exc.detail}"
        return await self._remove(row.table_id, owned)

    async def _remove(
        self, table_id: str, owned: Mapping[str, UploadSource]
    ) -> tuple[PurgeState, Removed, str | None]:
        try:
            shared = [loc for loc, source in owned.items() if source is UploadSource.OPERATOR]
            in_use = await self._still_named(table_id, shared)
        except NocoDBError as exc:
            return PurgeState.PENDING, Removed(), f"NocoDB could not be asked who uses the files: {exc}"
        removed = Removed()
        for location in owned:
            if location in in_use:
                continue
            storage = self.files.storage(location)
            assert storage is not None  # every location's storage was checked before
            try:
                removed += await asyncio.to_thread(storage.remove, location)
            except PurgeRefused as exc:
                return PurgeState.REFUSED, removed, str(exc)
            except StorageUnavailable as exc:
                return PurgeState.PENDING, removed, f"The storage could not be reached: {exc}"
            except OSError as exc:
                return PurgeState.PENDING, removed, f"The storage could not be changed: {exc.strerror}"
        detail = f"{len(in_use)} files kept: another row of the operator uses them." if in_use else None
        return PurgeState.DONE, removed, detail

    async def _still_named(self, table_id: str, locations: Sequence[str]) -> set[str]:
        """The operator's files among ``locations`` that a row of the table still names (one filtered
        lookup each: the cost does not depend on the file's name)."""
        used: set[str] = set()
        for location in locations:
            if await rows_naming(self.nocodb, table_id, self.fields.image, location, fields=[]):
                used.add(location)
        return used


def _announce(record: PurgeRecord, earlier: PurgeRecord | None) -> None:
    """Count and log a purge when its state changes: once when it has to wait (pending) or keeps the
    files of a live row (kept), once when it ends. A retry that still waits says nothing."""
    before = _attempted(earlier)
    if before is record.state:
        return
    PURGES.labels(state=record.state).inc()
    if record.state is PurgeState.PENDING:
        log.warning("row %d: purge pending: %s", record.row_id, record.detail)
        return
    if record.state is PurgeState.KEPT:
        log.info("row %d: purge kept: the row is still in NocoDB", record.row_id)
        return
    log.info(
        "row %d: %spurge %s, %d files, %d bytes",
        record.row_id,
        f"{before} " if before is not None else "",
        record.state,
        record.files,
        record.bytes,
    )


def _attempted(record: PurgeRecord | None) -> PurgeState | None:
    """The state an earlier attempt left the purge in (a purge only scheduled has had none)."""
    if record is None or (record.state is PurgeState.PENDING and (record.detail or "").startswith(SCHEDULED)):
        return None
    return record.state


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


def _merged(known: Sequence[str], new: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([*known, *new]))
