"""The consent checkbox (``--consent-field``): a row whose box is not ticked is rejected unseen
(``no_consent``). Attaching, the campaign's column must exist and be a Checkbox, checked before
anything is changed; on facegate's own table it is made, and its form requires it.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import httpx

from app.commands.bootstrap.errors import BootstrapError, nocodb_errors
from app.integrations.nocodb.meta import NocoDBMetaClient, column_spec

__all__ = ["CONSENT_SETTING", "CONSENT_TYPE", "add_consent", "check_consent"]

logger = logging.getLogger(__name__)

CONSENT_SETTING: Final = "FACEGATE_NOCODB_CONSENT_FIELD"
CONSENT_TYPE: Final = "Checkbox"


async def check_consent(
    nocodb_url: str,
    api_token: str,
    table_id: str,
    title: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> None:
    """The campaign's table has the Checkbox ``title``; a ``BootstrapError`` otherwise (nothing is
    changed: facegate will not add a consent the uploaders of the rows already there never gave)."""
    root = nocodb_url.rstrip("/")
    with nocodb_errors(root):
        async with NocoDBMetaClient(base_url=root, transport=transport) as meta:
            meta.use_token(api_token)
            columns = await meta.columns(table_id)
    _check(columns, title)


async def add_consent(
    nocodb_url: str,
    api_token: str,
    table_id: str,
    form_view_id: str | None,
    title: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> None:
    """On facegate's own table: the Checkbox ``title`` made when missing, and shown and required in
    facegate's form (``form_view_id``)."""
    root = nocodb_url.rstrip("/")
    with nocodb_errors(root):
        async with NocoDBMetaClient(base_url=root, transport=transport) as meta:
            meta.use_token(api_token)
            columns = await meta.columns(table_id)
            if title not in columns:
                logger.info("adding column %r (%s)", title, CONSENT_TYPE)
                await meta.add_column(table_id, column_spec(title, CONSENT_TYPE))
                columns = await meta.columns(table_id)
            column = _check(columns, title)
            if form_view_id is not None:
                await _require(meta, form_view_id, str(column["id"]), title)


def _check(columns: dict[str, dict[str, Any]], title: str) -> dict[str, Any]:
    column = columns.get(title)
    if column is None:
        boxes = ", ".join(sorted(t for t, c in columns.items() if c.get("uidt") == CONSENT_TYPE))
        raise BootstrapError(
            f"the table has no column {title!r} for the consent (Checkbox columns: {boxes or 'none'});"
            " name it with --consent-field"
        )
    if column.get("uidt") != CONSENT_TYPE:
        raise BootstrapError(
            f"column {title!r} is a {column.get('uidt')}; the consent column must be a Checkbox"
        )
    return column


async def _require(meta: NocoDBMetaClient, view_id: str, column_id: str, title: str) -> None:
    form = await meta.form(view_id)
    for form_column in form["columns"]:
        if form_column["fk_column_id"] == column_id and not (
            form_column.get("show") and form_column.get("required")
        ):
            logger.info("requiring %r in the form", title)
            await meta.update_form_column(form_column["id"], {"show": True, "required": True})
