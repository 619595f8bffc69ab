"""NocoDB rows as facegate sees them: the few cells moderation needs, and an idempotency key.

Only what moderation needs is kept: the row Id, its creation time, the politician named, where the
attachments are, the Status cell, facegate's stamp (``app.moderation.stamps``) and note; when the table
asks for consent, whether its box is ticked is read too, but not stored. Other cells of the form (and
attachment titles, which are the uploader's file names) are dropped before anything is stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.config import FieldNames
from app.db import MAX_ID
from app.moderation.holds import columns_malformed, columns_missing
from app.moderation.queue import NewJob

__all__ = [
    "ATTACHMENT_KEYS",
    "UploadRow",
    "created_epoch",
    "new_job",
    "parse_row",
    "require_columns",
    "row_key",
    "same_upload",
]

CREATED_AT_FIELDS = ("CreatedAt", "created_at", "createdAt")
ATTACHMENT_KEYS = (
    "id",
    "path",
    "signedPath",
    "url",
    "signedUrl",
    "mimetype",
    "size",
    "width",
    "height",
)


@dataclass(frozen=True)
class UploadRow:
    row_id: int
    created_at: str | None
    politician: str | None
    attachments: list[dict[str, Any]]
    # The Status cell: facegate's own word, or a moderator's once facegate has decided the row.
    status: str | None = None
    # facegate's stamp cell. Not kept in a job (``to_json``): only the copy NocoDB's API gives is read.
    stamp: str | None = None
    # facegate's note for moderators (``app.moderation.notes``), "" when empty; None when the table has
    # no note column (attached before notes existed). Not kept in a job either.
    note: str | None = None
    # Whether the consent box is ticked; None when the table asks for no consent. Not stored with the
    # job: it is read from NocoDB when the row is decided, as every cell is.
    consent: bool | None = None
    # Configured columns the row as read lacks altogether (renamed or deleted in NocoDB): an
    # operator's problem, never a reason to decide (a row without its image column has no image).
    missing: tuple[str, ...] = ()
    # Configured columns whose cell has a shape their type never gives (an image cell that is not a
    # list of attachments, a consent cell that is not a checkbox's): the column's type was changed,
    # or the setting names another column. Never a reason to decide either.
    malformed: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "Id": self.row_id,
            "CreatedAt": self.created_at,
            "politician": self.politician,
            "attachments": self.attachments,
            "status": self.status,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UploadRow:
        return cls(
            data["Id"],
            data.get("CreatedAt"),
            data.get("politician"),
            list(data.get("attachments") or []),
            data.get("status"),
        )

    def identity(self) -> str:
        """What tells this row from a later row that got the same Id after a deletion."""
        created = _normalise_time(self.created_at)
        files = ",".join(
            sorted(str(a.get("id") or a.get("path") or a.get("url") or "") for a in self.attachments)
        )
        return f"{created}|{files}"


def parse_row(raw: Mapping[str, Any], fields: FieldNames) -> UploadRow:
    """Keep the cells moderation needs; raises ``ValueError`` without a positive integer Id."""
    row_id = raw.get("Id", raw.get("id"))
    if isinstance(row_id, bool) or not isinstance(row_id, int) or not 1 <= row_id <= MAX_ID:
        raise ValueError("a row needs a positive integer Id")
    created = next((raw[f] for f in CREATED_AT_FIELDS if isinstance(raw.get(f), str)), None)
    politician = raw.get(fields.politician)
    cell = _attachment_list(raw.get(fields.image))
    attachments = [
        {k: a[k] for k in ATTACHMENT_KEYS if k in a and isinstance(a[k], str | int | float)}
        for a in cell or []
    ]
    consent = _ticked(raw.get(fields.consent)) if fields.consent else False
    malformed = (*((fields.image,) if cell is None else ()), *((fields.consent,) if consent is None else ()))
    wanted = (fields.politician, fields.image, *((fields.consent,) if fields.consent else ()))
    missing = tuple(column for column in wanted if column not in raw)
    return UploadRow(
        row_id=row_id,
        created_at=created,
        politician=_politician(politician),
        attachments=attachments,
        status=status if isinstance(status := raw.get(fields.status), str) else None,
        stamp=stamp if isinstance(stamp := raw.get(fields.stamp), str) else None,
        note=_note(raw, fields.note),
        consent=bool(consent) if fields.consent else None,
        missing=missing,
        malformed=tuple(column for column in malformed if column not in missing),
    )


def _attachment_list(cell: object) -> list[Mapping[str, Any]] | None:
    """An Attachment cell's items: NocoDB gives a list of objects, null when empty (some versions a
    JSON string of the list). None for anything else: the column is not an Attachment column."""
    if isinstance(cell, str):
        try:
            cell = json.loads(cell) if cell.strip() else []
        except ValueError:
            return None
    if cell is None:
        return []
    if not isinstance(cell, list):
        return None
    # A list is an Attachment column's: an item that is no object is forged into it, and dropped.
    return [item for item in cell if isinstance(item, Mapping)]


def _note(raw: Mapping[str, Any], column: str) -> str | None:
    """The note cell: NocoDB gives an empty cell as null, and no key at all for a column it lacks."""
    if column not in raw:
        return None
    cell = raw[column]
    return cell if isinstance(cell, str) else ""


def _ticked(cell: object) -> bool | None:
    """A Checkbox cell as NocoDB returns it: true, 1, "1" or "true" when ticked; false, 0, "0",
    "false", "" or null when not. None for anything else ("Yes", 2, a list): not a checkbox's cell."""
    if cell is None or isinstance(cell, bool):
        return bool(cell)
    if isinstance(cell, int | float) and cell in (0, 1):
        return cell == 1
    if isinstance(cell, str) and (text := cell.strip().lower()) in {"1", "true", "0", "false", ""}:
        return text in {"1", "true"}
    return None


def _politician(cell: object) -> str | None:
    """The text named (a slug, display name or form label: resolved to a slug when the row is decided,
    ``app.politicians.names``), None for an empty cell (identify the face); anything else names nobody."""
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return None
    return cell.strip() if isinstance(cell, str) else f"<{type(cell).__name__}>"


def same_upload(
    current: Mapping[str, Any] | None, key: str, *, table_id: str, fields: FieldNames
) -> UploadRow | None:
    """NocoDB's ``current`` copy of a row, parsed, if it is still the upload ``key``; None when the row
    is gone (``current`` is None), unreadable, or another upload by now. ``Held`` when the row was
    read without a configured column (renamed or deleted in NocoDB): it cannot be compared.

    The one definition of "the same upload": the same idempotency key (``row_key``), that is the same
    table, the same Id, the same CreatedAt to the second, and the same attachment ids. NocoDB reuses a
    deleted row's Id, and an owner may swap a row's attachments: either is another upload, with a job
    of its own.
    """
    if current is None:
        return None
    try:
        row = parse_row(current, fields)
    except ValueError:
        return None
    # Not comparable: the key covers the attachments of a column the row was read without.
    require_columns(row)
    return row if row_key(table_id, row) == key else None


def require_columns(row: UploadRow) -> None:
    """Raise ``Held`` for a row read without a configured column, or with one its type never gives:
    read as it is, it would look like a row without an image or consent, and another upload."""
    if row.missing:
        raise columns_missing(row.missing)
    if row.malformed:
        raise columns_malformed(row.malformed)


def row_key(table_id: str, row: UploadRow) -> str:
    """The idempotency key of a row: NocoDB reuses Ids, so the key also covers time and files (two
    copies of a row with one key are the same upload: ``same_upload``)."""
    digest = hashlib.sha256(f"{table_id}|{row.row_id}|{row.identity()}".encode()).hexdigest()[:24]
    return f"{table_id}:{row.row_id}:{digest}"


def new_job(table_id: str, row: UploadRow) -> NewJob:
    return NewJob(row_key=row_key(table_id, row), table_id=table_id, row_id=row.row_id, row=row.to_json())


def created_epoch(row: UploadRow) -> float | None:
    """When the row was created, in epoch seconds; None when its CreatedAt is missing or unreadable."""
    normalised = _normalise_time(row.created_at)
    return float(normalised) if normalised.isdigit() else None


def _normalise_time(value: str | None) -> str:
    # The webhook and the records API may format CreatedAt differently; the instant is the same.
    if not value:
        return ""
    text = value.strip().replace("T", " ").replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return str(int(parsed.timestamp()))
