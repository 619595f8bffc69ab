"""The review view: a grid of the table that shows moderators only the rows waiting for them (Status
``review``), oldest first, the picture and facegate's note side by side.

Found by its title, so a rerun fixes it rather than making a second one. Its filter and sort are
facegate's: anything else there is replaced, since another filter would hide rows that wait. Its columns
are the moderators' to arrange, except that the picture, the note, the politician and Status stay shown,
first, in that order. Facegate's own table gets it; an attached one only when asked (``--review-view``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from app.commands.bootstrap.changes import Changes
from app.config import FieldNames
from app.integrations.nocodb.meta import NocoDBMetaClient, find
from app.moderation.act import REVIEW_STATUS

__all__ = ["REVIEW_VIEW_TITLE", "ensure_review_view", "oldest_first_column"]

REVIEW_VIEW_TITLE: Final = "Review"
# NocoDB's "created time" column (``CreatedAt`` on tables it made); a table without one sorts by Id.
CREATED_TYPE: Final = "CreatedTime"
ID_TYPE: Final = "ID"


async def ensure_review_view(
    meta: NocoDBMetaClient,
    table_id: str,
    columns: Mapping[str, Mapping[str, Any]],
    fields: FieldNames,
    changes: Changes,
) -> str:
    """The review view's id, made when missing, its filter, sort and first columns set.

    ``columns`` are the table's by title, the note and the stamp among them."""
    view = find(await meta.grid_views(table_id), title=REVIEW_VIEW_TITLE)
    # A new view hides the stamp (no moderator reads it); later, what they show is theirs.
    hidden = []
    if view is None:
        view = await meta.create_grid(table_id, REVIEW_VIEW_TITLE)
        changes.add(f"created grid view {REVIEW_VIEW_TITLE!r} (rows in review, oldest first)")
        hidden = [str(columns[fields.stamp]["id"])] if fields.stamp in columns else []
    view_id = str(view["id"])
    status = columns[fields.status]
    await _only_in_review(meta, view_id, str(status["id"]), changes)
    oldest = oldest_first_column(columns)
    await _oldest_first(meta, view_id, str(oldest["id"]), str(oldest["title"]), changes)
    first = [
        str(columns[title]["id"]) for title in (fields.image, fields.note, fields.politician, fields.status)
    ]
    # NocoDB pins the display value (the Id, on its own tables) first and keeps its place.
    pinned = {str(column["id"]) for column in columns.values() if column.get("pv")}
    await _columns_first(meta, view_id, first, hidden, pinned, changes)
    return view_id


def oldest_first_column(columns: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any]:
    """The column whose ascending order is the oldest row first: the created time, else the Id."""
    by_type = {column.get("uidt"): column for column in columns.values()}
    return by_type.get(CREATED_TYPE) or by_type[ID_TYPE]


async def _only_in_review(meta: NocoDBMetaClient, view_id: str, status_id: str, changes: Changes) -> None:
    filters = [f for f in await meta.view_filters(view_id) if not f.get("fk_parent_id")]
    wanted = (status_id, "eq", REVIEW_STATUS)
    if [(f.get("fk_column_id"), f.get("comparison_op"), f.get("value")) for f in filters] == [wanted]:
        return
    for old in filters:  # a group's filters go with it
        await meta.delete_filter(str(old["id"]))
    await meta.add_filter(view_id, *wanted)
    changes.add(f"set the filter of view {REVIEW_VIEW_TITLE!r} to Status = {REVIEW_STATUS}")


async def _oldest_first(
    meta: NocoDBMetaClient, view_id: str, column_id: str, title: str, changes: Changes
) -> None:
    sorts = await meta.view_sorts(view_id)
    if [(s.get("fk_column_id"), s.get("direction")) for s in sorts] == [(column_id, "asc")]:
        return
    for old in sorts:
        await meta.delete_sort(str(old["id"]))
    await meta.add_sort(view_id, column_id, "asc")
    changes.add(f"sorted view {REVIEW_VIEW_TITLE!r} by {title!r}, oldest first")


async def _columns_first(
    meta: NocoDBMetaClient,
    view_id: str,
    first: list[str],
    hidden: list[str],
    pinned: set[str],
    changes: Changes,
) -> None:
    """Show the ``first`` columns (table column ids) after the ``pinned`` ones and before the others,
    which keep their order; hide the ``hidden`` ones."""
    view_columns = sorted(await meta.view_columns(view_id), key=lambda c: c.get("order") or 0)
    movable = [c for c in view_columns if c["fk_column_id"] not in pinned]
    by_column = {c["fk_column_id"]: c for c in movable}
    ordered = [by_column[i] for i in first if i in by_column]
    ordered += [c for c in movable if c["fk_column_id"] not in first]
    moved = False
    for order, view_column in enumerate(ordered, start=len(view_columns) - len(movable) + 1):
        wanted: dict[str, Any] = {"order": order}
        if view_column["fk_column_id"] in first:
            wanted["show"] = True
        elif view_column["fk_column_id"] in hidden:
            wanted["show"] = False
        if any(view_column.get(key) != value for key, value in wanted.items()):
            await meta.update_view_column(view_id, str(view_column["id"]), wanted)
            moved = True
    if moved:
        changes.add(f"put the picture, the note, the politician and Status first in {REVIEW_VIEW_TITLE!r}")
