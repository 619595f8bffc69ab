"""Whose file an attachment is: facegate moderates, publishes and erases only files that the row's own
submission uploaded.

NocoDB's public form stores any attachment JSON it is sent, so a row may name a file it did not upload
(the form's logo, another row's picture, a private table's photo). NocoDB records nothing that ties a
file to the row that carried it (the attachment's ``id`` is made for forged cells too), but it writes
each upload to ``download/YYYY/MM/DD/<objectHash(uploader)>/<name>_<5 random characters><ext>``, the
date its own local one, the uploader ``anonymous`` for the public form (one folder for every form of
the instance), and writes the file just before it inserts the row. A file is the row's own when:

- **a form upload**: it is in the anonymous folder, its name has NocoDB's shape, its date is the row's
  (a day either side: the server's time zone), it was written (local modification time, or S3's
  ``Last-Modified``) at most ``WRITTEN_BEFORE_SECONDS`` before the row's ``CreatedAt``, no earlier row
  of the table names it, and no other upload claimed it first;
- **an operator upload**: it is in the folder of facegate's API-token user, and NocoDB records that
  user as the row's creator (``nc_created_by``): the rows an operator inserts through the API with
  files it uploaded through ``/api/v2/storage/upload``. Such a file may be shared by several of its rows.

Anything else (an editor's logo or banner, another user's upload, an older or already claimed form
upload, a location facegate cannot read the write time of) is foreign: the row is rejected
(``foreign_attachment``) and the file is neither fetched, published nor erased. Each proved file is
claimed (``app.erasure.claims``); the eraser erases only claimed files.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from app.erasure.claims import Claims, UploadSource
from app.erasure.files import StorageNotConfigured, StoredFiles, locate, location_or_none
from app.erasure.storage import PurgeRefused, StorageUnavailable
from app.errors import NotReady
from app.integrations.nocodb.client import NocoDBClient
from app.integrations.nocodb.errors import AttachmentRefused, NocoDBRequestError

__all__ = [
    "FORM_FOLDER",
    "ForeignAttachment",
    "Provenance",
    "Submission",
    "created_epoch",
    "object_hash",
    "rows_naming",
]

# NocoDB writes the file, then inserts the row: about 0.5 s apart on an idle machine, more under load.
WRITTEN_BEFORE_SECONDS = 30.0
# CreatedAt is cut to the second, and S3's clock is not NocoDB's: a file written a little "after" its row.
WRITTEN_AFTER_SECONDS = 5.0
# NocoDB's stored name: the uploader's name, "_", nanoid(5), the extension.
_STORED_NAME = re.compile(r"^[^/]*_[A-Za-z0-9_-]{5}(\.[^./]*)?$")
# YYYY/MM/DD/<folder>/<file>
_UPLOAD_PATH = re.compile(r"^(?P<date>\d{4}/\d{2}/\d{2})/(?P<folder>[^/]+)/(?P<name>[^/]+)$")
# What NocoDB's ``where`` syntax carries in a ``like`` value whatever the file is called.
_SAFE_RUN = re.compile(r"[A-Za-z0-9._-]+")
_WITH_NANOID = re.compile(r"([A-Za-z0-9._-]*_[A-Za-z0-9_-]{5})(\.[A-Za-z0-9]*)?$")


def object_hash(value: str) -> str:
    """The folder NocoDB names after an uploader: npm ``object-hash`` of a string (SHA-1, hex)."""
    return hashlib.sha1(f"string:{len(value)}:{value}".encode(), usedforsecurity=False).hexdigest()


FORM_FOLDER = object_hash("anonymous")  # 60e65c63f9091a580cbaec91b037645612f9eb7e


class ForeignAttachment(Exception):
    """The row names a file its own submission did not upload; ``detail`` says which and why."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class Submission:
    """What provenance needs of a row as NocoDB has it now."""

    table_id: str
    row_key: str
    row_id: int
    created_at: str | None
    attachments: Sequence[Mapping[str, Any]]


def created_epoch(value: str | None) -> float | None:
    """NocoDB's ``CreatedAt`` (``2026-12-06 03:41:12+00:00``, UTC when it names no zone) in epoch
    seconds; None when missing or unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("T", " ").replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def like_fragment(location: str) -> str:
    """A part of the location's file name that NocoDB's ``like`` filter can carry and that few other
    files share: the run of plain characters that holds NocoDB's random suffix, else the longest one."""
    name = location.rsplit("/", 1)[-1]
    found = _WITH_NANOID.search(name)
    if found is not None:
        return found[0]
    return max(_SAFE_RUN.findall(name), key=len, default="")


async def rows_naming(
    nocodb: NocoDBClient, table_id: str, image_field: str, location: str, *, fields: Sequence[str]
) -> list[dict[str, Any]]:
    """The table's rows whose attachments name ``location`` exactly: one filtered listing (``like``
    on a fragment of the name, a few rows whatever the name holds), then an exact check."""
    where = f"({image_field},like,%{like_fragment(location)}%)"
    found: list[dict[str, Any]] = []
    async for row in nocodb.iter_rows(table_id, where=where, fields=["Id", image_field, *fields]):
        cell = row.get(image_field)
        if any(location_or_none(a) == location for a in (cell if isinstance(cell, list) else [])):
            found.append(row)
    return found


class Provenance:
    """Proves, or refuses, that a row's attachments are its own submission's uploads."""

    def __init__(
        self,
        *,
        nocodb: NocoDBClient,
        files: StoredFiles,
        claims: Claims,
        image_field: str,
        storage_problem: Callable[[], str | None] | None = None,
    ) -> None:
        self.nocodb = nocodb
        self.files = files
        self.claims = claims
        self.image_field = image_field
        # Why NocoDB's storage is not where the settings look (``app.erasure.probe``), or None.
        self.storage_problem = storage_problem
        self._operator_id: str | None = None

    async def prove(self, row: Submission) -> None:
        """Claim each attachment for the row, or raise ``ForeignAttachment``. An attachment the
        download refuses anyway (a location outside NocoDB) is left to it. Raises
        ``StorageNotConfigured`` when no storage is configured, ``NotReady`` when the storage cannot
        be read now or is not where the settings look (every upload would look forged); NocoDB's
        outages propagate."""
        problem = self.storage_problem() if self.storage_problem is not None else None
        if problem is not None:
            raise NotReady(
                f"No upload is proved while NocoDB's storage is not as the settings say: {problem}"
            )
        claimed = await self._claimed(row)
        foreign: ForeignAttachment | None = None
        for attachment in row.attachments:
            try:
                self.nocodb.attachment_urls(attachment)
            except AttachmentRefused:
                continue  # refused without a request when the row is decided: ``unreadable_image``
            try:
                location = self._location(attachment)
                if location in claimed:
                    continue  # proved before: a replay, or a moderator deciding the upload
                await self._claim(row, location, await self._source(row, location))
            except ForeignAttachment as exc:
                foreign = foreign or exc  # the row's own files after it are claimed all the same
        if foreign is not None:
            raise foreign

    async def _claimed(self, row: Submission) -> set[str]:
        locations = {loc for a in row.attachments if (loc := location_or_none(a)) is not None}
        return set(await asyncio.to_thread(self.claims.owned, row.row_key, sorted(locations)))

    @staticmethod
    def _location(attachment: Mapping[str, Any]) -> str:
        try:
            location = locate(attachment)
        except PurgeRefused as exc:
            raise ForeignAttachment(str(exc)) from exc
        if location is None:
            raise ForeignAttachment("The attachment names no file in NocoDB's storage.")
        return location

    async def _source(self, row: Submission, location: str) -> UploadSource:
        """Who uploaded the file, if the row may name it; else ``ForeignAttachment``."""
        date_folder, folder, name = self._parts(location)
        if folder == FORM_FOLDER:
            await self._check_form_upload(row, location, date_folder, name)
            return UploadSource.FORM
        operator = await self._operator()
        if folder == object_hash(operator):
            await self._check_operator_row(row, operator)
            return UploadSource.OPERATOR
        raise ForeignAttachment("The file was uploaded by a NocoDB user, not through the public form.")

    def _parts(self, location: str) -> tuple[date, str, str]:
        try:
            path = self.files.upload_path(location)
        except PurgeRefused as exc:
            raise ForeignAttachment(str(exc)) from exc
        except StorageNotConfigured as exc:
            raise self._unprovable() from exc
        match = _UPLOAD_PATH.match(path)
        if match is None:
            raise ForeignAttachment("The file is not in a NocoDB upload folder.")
        try:
            day = datetime.strptime(match["date"], "%Y/%m/%d").replace(tzinfo=UTC).date()
        except ValueError as exc:
            raise ForeignAttachment("The file is not in a NocoDB upload folder.") from exc
        return day, match["folder"], match["name"]

    def _unprovable(self) -> Exception:
        """No storage configured at all is the operator's to fix (every row would be foreign): the
        row must wait (``StorageNotConfigured``). Only the other kind configured: a file facegate
        cannot read is foreign."""
        if not self.files.configured:
            return StorageNotConfigured(
                "facegate cannot tell an upload from another file without NocoDB's storage:"
                " set FACEGATE_NOCODB_UPLOADS_DIR (or FACEGATE_S3_*) and restart facegate."
            )
        return ForeignAttachment("The file is in a storage facegate is not configured to read.")

    async def _check_form_upload(self, row: Submission, location: str, day: date, name: str) -> None:
        created = created_epoch(row.created_at)
        if created is None:
            raise ForeignAttachment("The row has no creation time to compare the file's with.")
        if not _STORED_NAME.match(name):
            raise ForeignAttachment("The file's name is not one NocoDB gives an upload.")
        if abs((datetime.fromtimestamp(created, UTC).date() - day).days) > 1:
            raise ForeignAttachment("The file was uploaded on another day than the row was created.")
        written = await self._written_at(location)
        if written is None:
            raise ForeignAttachment("NocoDB's storage does not have the file.")
        if not created - WRITTEN_BEFORE_SECONDS <= written <= created + WRITTEN_AFTER_SECONDS:
            raise ForeignAttachment(
                f"The file was written {created - written:.0f} s before the row: not by its submission."
            )
        await self._check_no_earlier_row(row, location, created)

    async def _written_at(self, location: str) -> float | None:
        try:
            return await asyncio.to_thread(self.files.written_at, location)
        except StorageNotConfigured as exc:
            raise self._unprovable() from exc
        except PurgeRefused as exc:
            raise ForeignAttachment(str(exc)) from exc
        except StorageUnavailable as exc:
            raise NotReady(f"NocoDB's storage cannot be read now: {exc}") from exc
        except OSError as exc:  # its message names the file: the path stays out of GET /jobs
            raise NotReady(
                f"NocoDB's storage cannot be read now: {exc.strerror or type(exc).__name__}"
            ) from exc

    async def _check_no_earlier_row(self, row: Submission, location: str, created: float) -> None:
        """A row created before this one that names the same file is its submission's, not this one."""
        for other in await rows_naming(
            self.nocodb, row.table_id, self.image_field, location, fields=["CreatedAt"]
        ):
            other_id = other.get("Id")
            if other_id == row.row_id or not isinstance(other_id, int):
                continue
            stamp = other.get("CreatedAt")
            other_created = created_epoch(stamp if isinstance(stamp, str) else None)
            if other_created is None or (other_created, other_id) < (created, row.row_id):
                raise ForeignAttachment(f"Row {other_id}, created before this one, names the same file.")

    async def _operator(self) -> str:
        """The id of facegate's API-token user (asked once)."""
        if self._operator_id is None:
            self._operator_id = await self.nocodb.token_user_id()
        return self._operator_id

    async def _check_operator_row(self, row: Submission, operator: str) -> None:
        try:
            mine = await self.nocodb.created_by(row.table_id, row.row_id, operator)
        except NocoDBRequestError as exc:  # a table without NocoDB's creator column
            raise ForeignAttachment(f"NocoDB does not say who created the row: {exc.message}") from exc
        if not mine:
            raise ForeignAttachment("The file is the operator's, in a row the operator did not create.")

    async def _claim(self, row: Submission, location: str, source: UploadSource) -> None:
        first = await asyncio.to_thread(
            self.claims.claim,
            location=location,
            row_key=row.row_key,
            table_id=row.table_id,
            row_id=row.row_id,
            source=source,
        )
        if source is UploadSource.FORM and first != row.row_key:
            raise ForeignAttachment("Another upload claimed the same file first.")
