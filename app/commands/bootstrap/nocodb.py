"""Idempotent set-up of a NocoDB table for facegate, over NocoDB's meta API, in one of two ways.

- ``bootstrap()`` makes its own: the admin user (or an API token), the base, the ``Uploads`` table,
  its public upload form (the politicians' display names as choices, the rules as its description,
  what happens next as its success message), the review view and the webhook.
- ``attach()`` joins a campaign's existing table: it checks that the image column is an Attachment
  and the politician column a SingleSelect or text, adds the Status column if there is none, adds
  facegate's stamp and note columns likewise (``own_columns``), hides them in every form of the table,
  and installs facegate's webhook. It creates no table or form, and leaves the campaign's politician
  select, its views and its forms' messages as they are unless asked (``add_options``, ``review_view``,
  ``form_messages``).

Both make a SingleSelect Status offer every value facegate writes, keep the installed webhook's
address unless given one, and look before they write: running either again changes nothing. What
they change is said in ``changes``, one line each. Rows that were in the table before are decided by
facegate's sweep. Every failure is a ``BootstrapError``; passwords, JWTs and tokens never appear in
exceptions or logs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx

from app.commands.bootstrap import forms
from app.commands.bootstrap.changes import Changes
from app.commands.bootstrap.columns import column_specs, prepare_columns
from app.commands.bootstrap.credentials import check_token, usable_token
from app.commands.bootstrap.errors import BootstrapError, nocodb_errors
from app.commands.bootstrap.own_columns import ensure_note_column, ensure_stamp_column
from app.commands.bootstrap.review import ensure_review_view
from app.commands.bootstrap.webhook import ensure_hook
from app.config import FieldNames, RejectAction
from app.integrations.nocodb.errors import NocoDBRequestError, NocoDBTokenRefused
from app.integrations.nocodb.meta import NocoDBMetaClient, find
from app.moderation.act import status_values
from app.politicians.names import PoliticianNames

__all__ = ["BootstrapResult", "attach", "bootstrap"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BootstrapResult:
    """What facegate needs to talk to the table it set up or attached to. The form is the public
    upload form (None when attaching to a table none of whose forms is shared)."""

    api_token: str = field(repr=False)
    base_id: str
    table_id: str
    form_view_id: str | None
    form_uuid: str | None
    form_url: str | None
    hook_id: str
    politician_column_id: str
    image_column_id: str
    status_column_id: str
    note_column_id: str
    review_view_id: str | None = None


async def bootstrap(
    *,
    base_url: str,
    email: str | None,
    password: str | None,
    webhook_secret: str,
    politicians: PoliticianNames | Sequence[str],
    facegate_url: str | None = None,
    base_title: str = "facegate",
    table_title: str = "Uploads",
    form_title: str = forms.DEFAULT_FORM_TITLE,
    api_token: str | None = None,
    fields: FieldNames | None = None,
    action: RejectAction = RejectAction.DELETE,
    carousel_url: str | None = None,
    form_messages: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
    changes: Changes | None = None,
) -> BootstrapResult:
    """Make NocoDB ready for facegate with a table of its own; safe to run repeatedly.

    ``politicians`` gives the form's choices (their labels; plain slugs are offered as they are):
    facegate's own form offers each of them. ``facegate_url`` is where NocoDB reaches facegate; None
    keeps the installed webhook's address (``webhook.DEFAULT_FACEGATE_URL`` for a new one).
    Pass the ``api_token`` of an earlier run to reuse it; without it a token described "facegate" is
    reused if NocoDB lists its value, and created otherwise. With an ``api_token`` and no password, no
    user session is needed at all (an operator who only has a token). ``action`` decides which
    Status values a SingleSelect Status must offer (``flag`` writes ``rejected: <reason>``).
    The form's success message names ``carousel_url``; it replaces an operator's message only with
    ``form_messages`` (then in every form of the table).
    """
    fields = fields or FieldNames()
    changes = changes or Changes()
    names = _politician_names(politicians)
    if not len(names):
        raise BootstrapError(
            f"at least one politician is needed for the {fields.politician} field of facegate's own form:"
            " add one first (facegate politicians add)"
        )
    root = base_url.rstrip("/")
    with nocodb_errors(root):
        async with NocoDBMetaClient(base_url=root, transport=transport) as meta:
            token = await usable_token(meta, email, password, api_token, changes)
            base_id = await _ensure_base(meta, base_title, changes)
            statuses = status_values(action)
            specs = column_specs(fields, names, statuses)
            table_id = await _ensure_table(meta, base_id, table_title, list(specs.values()), changes)
            columns = await prepare_columns(
                meta,
                table_id,
                fields,
                names,
                statuses,
                create=frozenset(specs),
                add_options=True,
                changes=changes,
            )
            view = await forms.ensure_form(meta, table_id, form_title, changes)
            await forms.configure_form(meta, str(view["id"]), columns, fields, changes)
            columns = await _own_columns(meta, table_id, columns, fields, changes)
            message = forms.after_submit_message(carousel_url)
            for form in await meta.form_views(table_id) if form_messages else [view]:
                await forms.set_after_submit(meta, form, message, changes, replace=form_messages)
            review_id = await ensure_review_view(meta, table_id, columns, fields, changes)
            form_uuid = await forms.share(meta, view, changes)
            hook_id = await ensure_hook(
                meta, table_id, facegate_url=facegate_url, webhook_secret=webhook_secret, changes=changes
            )
    return _result(token, base_id, table_id, view, form_uuid, root, hook_id, columns, fields, review_id)


async def attach(
    *,
    base_url: str,
    api_token: str,
    table_id: str,
    webhook_secret: str,
    politicians: PoliticianNames | Sequence[str],
    facegate_url: str | None = None,
    fields: FieldNames | None = None,
    action: RejectAction = RejectAction.DELETE,
    add_options: bool = False,
    review_view: bool = False,
    form_messages: bool = False,
    carousel_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    changes: Changes | None = None,
) -> BootstrapResult:
    """Attach facegate to the existing table ``table_id``; safe to run repeatedly.

    Creates no table and no form: the columns named by ``fields`` must exist (the image an
    Attachment, the politician a SingleSelect or text), except Status, which is added (a
    SingleSelect) when missing. The public form is the table's first shared form, if any. The
    campaign's politician select gets an option per politician it lacks only with ``add_options``.
    ``facegate_url`` None keeps the installed webhook's address. The review view is made or fixed only
    with ``review_view``, and every form's success message set (naming ``carousel_url``) only with
    ``form_messages``: a campaign's message is its own.
    """
    fields = fields or FieldNames()
    changes = changes or Changes()
    names = _politician_names(politicians)
    if not len(names):
        logger.warning("the reference folder has no politician yet: add them before starting facegate")
    root = base_url.rstrip("/")
    with nocodb_errors(root):
        async with NocoDBMetaClient(base_url=root, transport=transport) as meta:
            token = await check_token(meta, api_token)
            table = await _existing_table(meta, table_id)
            logger.info(
                "attaching to table %r (%s) of base %s", table.get("title"), table_id, table.get("base_id")
            )
            statuses = status_values(action)
            columns = await prepare_columns(
                meta,
                table_id,
                fields,
                names,
                statuses,
                create=frozenset(),
                add_options=add_options,
                changes=changes,
            )
            columns = await _own_columns(meta, table_id, columns, fields, changes)
            if form_messages:
                message = forms.after_submit_message(carousel_url)
                for form in await meta.form_views(table_id):
                    await forms.set_after_submit(meta, form, message, changes, replace=True)
            review_id = None
            if review_view:
                review_id = await ensure_review_view(meta, table_id, columns, fields, changes)
            shared = await _shared_form(meta, table_id)
            hook_id = await ensure_hook(
                meta, table_id, facegate_url=facegate_url, webhook_secret=webhook_secret, changes=changes
            )
    uuid = str(shared["uuid"]) if shared else None
    base_id = str(table["base_id"])
    return _result(token, base_id, table_id, shared, uuid, root, hook_id, columns, fields, review_id)


def _politician_names(politicians: PoliticianNames | Sequence[str]) -> PoliticianNames:
    return politicians if isinstance(politicians, PoliticianNames) else PoliticianNames.of_slugs(politicians)


async def _own_columns(
    meta: NocoDBMetaClient,
    table_id: str,
    columns: Mapping[str, Mapping[str, Any]],
    fields: FieldNames,
    changes: Changes,
) -> dict[str, dict[str, Any]]:
    """Status, the stamp and the note hidden in every form (the last two added when missing); returns
    the table's columns, these among them."""
    status_id = str(columns[fields.status]["id"])
    await forms.hide_in_forms(meta, table_id, status_id, fields.status, changes)
    await ensure_stamp_column(meta, table_id, fields, changes)
    await ensure_note_column(meta, table_id, fields, changes)
    return await meta.columns(table_id)


def _result(
    token: str,
    base_id: str,
    table_id: str,
    view: Mapping[str, Any] | None,
    form_uuid: str | None,
    root: str,
    hook_id: str,
    columns: Mapping[str, Mapping[str, Any]],
    fields: FieldNames,
    review_view_id: str | None,
) -> BootstrapResult:
    return BootstrapResult(
        api_token=token,
        base_id=base_id,
        table_id=table_id,
        form_view_id=str(view["id"]) if view else None,
        form_uuid=form_uuid,
        form_url=f"{root}/#/nc/form/{form_uuid}" if form_uuid else None,
        hook_id=hook_id,
        politician_column_id=str(columns[fields.politician]["id"]),
        image_column_id=str(columns[fields.image]["id"]),
        status_column_id=str(columns[fields.status]["id"]),
        note_column_id=str(columns[fields.note]["id"]),
        review_view_id=review_view_id,
    )


class KnownTable(StrEnum):
    """What the table a settings file names is to a rerun without ``--table-id``."""

    OWN = "own"  # facegate's own table: the own-table path, as before
    ATTACHED = "attached"  # any other table: a campaign's, which facegate was attached to
    REFUSED = "refused"  # NocoDB refuses the settings file's token (reset?)


async def known_table(
    *,
    base_url: str,
    api_token: str,
    table_id: str,
    base_title: str = "facegate",
    table_title: str = "Uploads",
    transport: httpx.AsyncBaseTransport | None = None,
) -> KnownTable:
    """What the settings file's ``table_id`` is. A rerun without ``--table-id`` (the README's advice
    after adding a minister) must attach to a campaign's table again: making a table of facegate's
    own would move moderation off it. Only the ``table_title`` table of the ``base_title`` base is
    facegate's own; a table NocoDB no longer has is taken for attached, so that the rerun refuses,
    naming it, rather than make a new table."""
    root = base_url.rstrip("/")
    with nocodb_errors(root):
        async with NocoDBMetaClient(base_url=root, transport=transport) as meta:
            meta.use_token(api_token)
            try:
                base = find(await meta.bases(), title=base_title)
                own = find(await meta.tables(str(base["id"])), title=table_title) if base else None
            except NocoDBTokenRefused:
                return KnownTable.REFUSED
    return KnownTable.OWN if own is not None and str(own["id"]) == table_id else KnownTable.ATTACHED


# ------------------------------------------------------------------------------------ own table


async def _ensure_base(meta: NocoDBMetaClient, title: str, changes: Changes) -> str:
    existing = find(await meta.bases(), title=title)
    if existing is not None:
        return str(existing["id"])
    base_id = await meta.create_base(title)
    changes.add(f"created NocoDB base {title!r}")
    return base_id


async def _ensure_table(
    meta: NocoDBMetaClient,
    base_id: str,
    title: str,
    columns: Sequence[Mapping[str, Any]],
    changes: Changes,
) -> str:
    """The table, found by title or created with ``columns`` (Id, CreatedAt, UpdatedAt are NocoDB's)."""
    existing = find(await meta.tables(base_id), title=title)
    if existing is not None:
        return str(existing["id"])
    table_id = await meta.create_table(base_id, title, columns)
    changes.add(f"created NocoDB table {title!r} ({', '.join(c['title'] for c in columns)})")
    return table_id


# ------------------------------------------------------------------------------------ attached table


async def _existing_table(meta: NocoDBMetaClient, table_id: str) -> dict[str, Any]:
    try:
        return await meta.table(table_id)
    except NocoDBRequestError as exc:
        if exc.status_code in (400, 404):
            raise BootstrapError(
                f"NocoDB has no table {table_id!r} (or the token may not see it)", status=404
            ) from exc
        raise


async def _shared_form(meta: NocoDBMetaClient, table_id: str) -> dict[str, Any] | None:
    """The table's first shared form: the public's way in. None is logged: the form URL stays."""
    views = await meta.form_views(table_id)
    shared = next((view for view in views if view.get("uuid")), None)
    if shared is None:
        logger.warning(
            "none of the table's %d forms is shared: FACEGATE_FORM_URL is left as it is", len(views)
        )
    return shared
