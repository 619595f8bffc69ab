"""The upload forms: facegate's own public form (made, required fields, the rules as its description,
shared), in every form of the table Status hidden so that the public cannot set it, and the message an
uploader reads after submitting (what happens next).

NocoDB's form can, after a submission, show a message (``success_msg``), offer another submission, or
redirect (``redirect_url``, whose ``{record_id}`` the form page replaces by the new row's Id). Row Ids
are sequential, so a page per Id would show anyone every upload's outcome: facegate sets the message
only, and leaves the redirect as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from app.commands.bootstrap.changes import Changes
from app.config import FieldNames
from app.integrations.nocodb.meta import NocoDBMetaClient, find

__all__ = [
    "AFTER_SUBMIT_OPENING",
    "DEFAULT_FORM_TITLE",
    "FORM_RULES",
    "after_submit_message",
    "configure_form",
    "ensure_form",
    "hide_in_forms",
    "set_after_submit",
    "share",
]

logger = logging.getLogger(__name__)

DEFAULT_FORM_TITLE: Final = "Upload"
FORM_RULES: Final = (
    "Choose a politician and upload one picture of them. The picture must show exactly one face, and"
    " that face must be the politician you chose; any other upload is deleted. Approved pictures appear"
    " on the campaign's page."
)
# How facegate's message begins: a message that begins so is facegate's to rewrite (a new carousel URL).
AFTER_SUBMIT_OPENING: Final = "Thank you! Your picture is checked within seconds."


def after_submit_message(carousel_url: str | None) -> str:
    """What an uploader reads after submitting: what happens to the picture, and where approved ones
    are shown (``carousel_url``; None: "the campaign's page")."""
    carousel = f"on the carousel: {carousel_url}" if carousel_url else "on the campaign's page"
    return (
        f"{AFTER_SUBMIT_OPENING} If it is approved it appears {carousel}. A picture with no face,"
        " with several faces, or of someone else than the politician you chose is deleted. A borderline"
        " one waits for a moderator to look at it first."
    )


async def ensure_form(meta: NocoDBMetaClient, table_id: str, title: str, changes: Changes) -> dict[str, Any]:
    """The table's form titled ``title``, made when there is none."""
    existing = find(await meta.form_views(table_id), title=title)
    if existing is not None:
        return existing
    view = await meta.create_form(table_id, title)
    changes.add(f"created form {title!r}")
    return view


async def configure_form(
    meta: NocoDBMetaClient,
    view_id: str,
    columns: Mapping[str, Mapping[str, Any]],
    fields: FieldNames,
    changes: Changes,
) -> None:
    """In a form facegate made: require the politician and the image, and write the rules into its
    description unless an operator already wrote one; patches only what differs."""
    required = {columns[fields.politician]["id"], columns[fields.image]["id"]}
    form = await meta.form(view_id)
    for form_column in form["columns"]:
        if form_column["fk_column_id"] in required and not (
            form_column.get("show") and form_column.get("required")
        ):
            await meta.update_form_column(form_column["id"], {"show": True, "required": True})
            changes.add(f"made {_title(columns, form_column['fk_column_id'])!r} required in the form")
    if not (form.get("subheading") or "").strip():
        await meta.update_form(view_id, {"subheading": FORM_RULES})
        changes.add("wrote the rules into the form's description")


async def set_after_submit(
    meta: NocoDBMetaClient, view: Mapping[str, Any], message: str, changes: Changes, *, replace: bool
) -> None:
    """Write ``message`` as the form's success message: always with ``replace``, otherwise only over
    none or over facegate's own (an operator's message stays)."""
    form = await meta.form(str(view["id"]))
    current = (form.get("success_msg") or "").strip()
    ours = not current or current.startswith(AFTER_SUBMIT_OPENING)
    if current == message or not (replace or ours):
        return
    await meta.update_form(str(view["id"]), {"success_msg": message})
    changes.add(f"wrote what happens next into the success message of form {view.get('title')!r}")
    if (form.get("redirect_url") or "").strip():
        # The form page redirects instead of showing the message; the redirect is the campaign's.
        logger.warning(
            "form %r redirects to %s after a submission: its success message is not shown",
            view.get("title"),
            form["redirect_url"],
        )


def _title(columns: Mapping[str, Mapping[str, Any]], column_id: str) -> str:
    return next((title for title, column in columns.items() if column["id"] == column_id), column_id)


async def hide_in_forms(
    meta: NocoDBMetaClient, table_id: str, column_id: str, title: str, changes: Changes
) -> None:
    """Hide a column in every form of the table: NocoDB drops a hidden field from a submission, so the
    public cannot set it (``required`` alone is only enforced in the form page)."""
    for view in await meta.form_views(table_id):
        form = await meta.form(view["id"])
        for form_column in form["columns"]:
            if form_column["fk_column_id"] == column_id and form_column.get("show"):
                await meta.update_form_column(form_column["id"], {"show": False})
                changes.add(f"hid {title!r} in form {view.get('title')!r}")


async def share(meta: NocoDBMetaClient, view: Mapping[str, Any], changes: Changes) -> str:
    """The form's public uuid, the view shared first when it is not yet."""
    if view.get("uuid"):
        return str(view["uuid"])
    uuid = await meta.share_view(str(view["id"]))
    changes.add(f"shared form {view.get('title')!r}")
    return uuid
