"""facegate's own columns, which it writes and the public never does.

- the stamp (``FACEGATE_NOCODB_STAMP_FIELD``, "Facegate stamp"): beside each Status, the signed record
  of facegate's decision (``app.moderation.stamps``), so that a lost database can be rebuilt from NocoDB;
- the note (``FACEGATE_NOCODB_NOTE_FIELD``, "Facegate"): why a row waits or was decided, in plain words,
  for moderators.

Each is added as text when the table lacks it (attaching too, as Status is), and hidden in every form of
the table: NocoDB adds a new column to each existing form as a visible field, and drops a hidden field
from a submission, so the public never sets it. A stamp typed in anyway would not verify.
"""

from __future__ import annotations

from typing import Any, Final

from app.commands.bootstrap import forms
from app.commands.bootstrap.changes import Changes
from app.commands.bootstrap.errors import BootstrapError
from app.config import FieldNames
from app.integrations.nocodb.meta import NocoDBMetaClient, column_spec

__all__ = ["NOTE_TYPE", "STAMP_TYPE", "TEXT_TYPES", "ensure_note_column", "ensure_stamp_column"]

# What an existing own column may be: facegate writes plain text into either.
TEXT_TYPES: Final = frozenset({"SingleLineText", "LongText"})
STAMP_TYPE: Final = "SingleLineText"
# A note runs to a few lines (the reasons, the distances, a link).
NOTE_TYPE: Final = "LongText"


async def ensure_stamp_column(
    meta: NocoDBMetaClient, table_id: str, fields: FieldNames, changes: Changes
) -> dict[str, Any]:
    """The stamp column, added when missing and hidden in every form."""
    return await _ensure_own_column(
        meta, table_id, fields.stamp, STAMP_TYPE, "FACEGATE_NOCODB_STAMP_FIELD", "stamps", changes
    )


async def ensure_note_column(
    meta: NocoDBMetaClient, table_id: str, fields: FieldNames, changes: Changes
) -> dict[str, Any]:
    """The note column, added when missing and hidden in every form."""
    return await _ensure_own_column(
        meta, table_id, fields.note, NOTE_TYPE, "FACEGATE_NOCODB_NOTE_FIELD", "notes", changes
    )


async def _ensure_own_column(
    meta: NocoDBMetaClient,
    table_id: str,
    title: str,
    uidt: str,
    setting: str,
    what: str,
    changes: Changes,
) -> dict[str, Any]:
    """The column ``title``, added as ``uidt`` when missing and hidden in every form; an existing column
    of another type than text is refused (facegate converts nothing)."""
    column = (await meta.columns(table_id)).get(title)
    if column is None:
        await meta.add_column(table_id, column_spec(title, uidt))
        changes.add(f"added column {title!r} ({uidt}) for facegate's {what}")
        column = (await meta.columns(table_id))[title]
    elif column["uidt"] not in TEXT_TYPES:
        raise BootstrapError(
            f"column {title!r} is a {column['uidt']}; facegate's {what} column must be one of"
            f" {', '.join(sorted(TEXT_TYPES))} (or name another with {setting})"
        )
    await forms.hide_in_forms(meta, table_id, str(column["id"]), title, changes)
    return column
