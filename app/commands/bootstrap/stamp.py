"""facegate's stamp column (``FACEGATE_NOCODB_STAMP_FIELD``, "Facegate stamp"): where facegate writes,
beside each Status, the signed record of its decision (``app.moderation.stamps``), so that a lost
database can be rebuilt from NocoDB.

Added as text when the table lacks it (attaching too, as Status is), and hidden in every form of the
table: NocoDB adds a new column to each existing form as a visible field, and drops a hidden field
from a submission, so the public never sets it. A stamp typed in anyway would not verify.
"""

from __future__ import annotations

from typing import Any, Final

from app.commands.bootstrap import forms
from app.commands.bootstrap.changes import Changes
from app.commands.bootstrap.errors import BootstrapError
from app.config import FieldNames
from app.integrations.nocodb.meta import NocoDBMetaClient, column_spec

__all__ = ["STAMP_TYPES", "ensure_stamp_column"]

STAMP_TYPES: Final = frozenset({"SingleLineText", "LongText"})


async def ensure_stamp_column(
    meta: NocoDBMetaClient, table_id: str, fields: FieldNames, changes: Changes
) -> dict[str, Any]:
    """The stamp column, added when missing and hidden in every form; an existing column of another
    type is refused (facegate converts nothing)."""
    column = (await meta.columns(table_id)).get(fields.stamp)
    if column is None:
        await meta.add_column(table_id, column_spec(fields.stamp, "SingleLineText"))
        changes.add(f"added column {fields.stamp!r} (SingleLineText) for facegate's stamps")
        column = (await meta.columns(table_id))[fields.stamp]
    elif column["uidt"] not in STAMP_TYPES:
        raise BootstrapError(
            f"column {fields.stamp!r} is a {column['uidt']}; facegate's stamp column must be one of"
            f" {', '.join(sorted(STAMP_TYPES))} (or name another with FACEGATE_NOCODB_STAMP_FIELD)"
        )
    await forms.hide_in_forms(meta, table_id, str(column["id"]), fields.stamp, changes)
    return column
