"""Idempotent set-up of a NocoDB table for facegate, over NocoDB's REST API, in one of two ways.

- ``bootstrap()`` makes its own: the admin user (or an API token), the base, the ``Uploads`` table,
  its public upload form (the politicians' display names as choices, the rules as its description)
  and the webhook.
- ``attach()`` joins a campaign's existing table: it checks that the image column is an Attachment
  and the politician column a SingleSelect or text, adds the Status column if there is none, hides
  Status in every form of the table, and installs facegate's webhook. It creates no table or form.

Both add select options for new politicians, make a SingleSelect Status offer every value facegate
writes, and look before they write: running either again changes nothing. Rows that were in the
table before are decided by facegate's sweep. Passwords, JWTs and tokens never appear in
exceptions or logs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from app.config import FieldNames, RejectAction
from app.integrations.nocodb import meta
from app.integrations.nocodb.meta import HOOK_TITLE, SECRET_HEADER, BootstrapError, MetaApi
from app.moderation.act import status_values
from app.politicians.names import PoliticianNames

__all__ = [
    "HOOK_TITLE",
    "SECRET_HEADER",
    "TOKEN_DESCRIPTION",
    "BootstrapError",
    "BootstrapResult",
    "attach",
    "bootstrap",
]

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_SECONDS: Final = 30.0
TOKEN_DESCRIPTION: Final = "facegate"  # noqa: S105 - a label, not a secret
DEFAULT_FORM_TITLE: Final = "Upload"
FORM_RULES: Final = (
    "Choose a politician and upload one picture of them. The picture must show exactly one face, and"
    " that face must be the politician you chose; any other upload is deleted. Approved pictures appear"
    " on the campaign's page."
)
# What a column may be for facegate to read it. Text politician cells are matched like select ones.
IMAGE_TYPES: Final = frozenset({"Attachment"})
POLITICIAN_TYPES: Final = frozenset({"SingleSelect", "SingleLineText", "LongText"})
STATUS_TYPES: Final = frozenset({"SingleSelect", "SingleLineText"})


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


# ------------------------------------------------------------------------------------ credentials


async def _sign_in(api: MetaApi, email: str, password: str) -> str:
    """Sign up when the instance has no user yet (the first user is super admin), else sign in."""
    info = await api.call("GET", "/api/v2/meta/nocodb/info")
    credentials = {"email": email, "password": password}
    if info.get("firstUser"):
        logger.info("NocoDB has no user yet: signing up %s as its admin", email)
        body = await api.call("POST", "/api/v2/auth/user/signup", credentials)
    else:
        logger.info("signing in to NocoDB as %s", email)
        body = await api.call("POST", "/api/v2/auth/user/signin", credentials)
    token: str = body["token"]
    return token


async def _check_token(api: MetaApi, token: str) -> str:
    api.authenticate("xc-token", token)
    response = await api.request("GET", "/api/v2/meta/bases")
    if response.is_success:
        return token
    raise BootstrapError(
        f"NocoDB refuses the API token (HTTP {response.status_code}): check NOCODB_API_TOKEN or"
        " FACEGATE_NOCODB_API_TOKEN",
        status=response.status_code,
    )


async def _ensure_api_token(api: MetaApi, jwt: str) -> str:
    """A token we made earlier (listed by description), else a new one.

    NocoDB 0.301.3 lists tokens with their values; should a later version mask them, we cannot reuse
    a listed token and create a new one, which is why callers should pass back ``api_token``.
    """
    api.authenticate("xc-auth", jwt)
    for item in await api.list_items("/api/v1/tokens"):
        value = item.get("token")
        if item.get("description") == TOKEN_DESCRIPTION and _looks_usable(value):
            assert isinstance(value, str)
            return value
    logger.info("creating NocoDB API token %r", TOKEN_DESCRIPTION)
    created = await api.call("POST", "/api/v1/tokens", {"description": TOKEN_DESCRIPTION})
    token: str = created["token"]
    return token


def _looks_usable(value: object) -> bool:
    """A listed token value that is not masked (``****``) or missing."""
    return isinstance(value, str) and bool(value) and "*" not in value


async def _authenticate(api: MetaApi, email: str | None, password: str | None, api_token: str | None) -> str:
    """The API token facegate will use: the caller's (checked), or one made with the admin's login."""
    if api_token is not None and password is None:
        return await _check_token(api, api_token)
    if email and password:
        jwt = await _sign_in(api, email, password)
        token = api_token if api_token is not None else await _ensure_api_token(api, jwt)
        return await _check_token(api, token)
    raise BootstrapError("NocoDB admin credentials (e-mail and password) or an API token are needed")


# ------------------------------------------------------------------------------------ shared steps


def _same_politician(names: PoliticianNames) -> Callable[[str, str], bool]:
    """Whether an existing option stands for the politician offered as ``wanted`` (a label)."""

    def same(wanted: str, existing: str) -> bool:
        return names.resolve(existing) == names.resolve(wanted)

    return same


def _check_type(
    columns: Mapping[str, Mapping[str, Any]], title: str, allowed: frozenset[str], what: str
) -> None:
    column = columns.get(title)
    if column is None:
        usable = sorted(t for t, c in columns.items() if c.get("uidt") in allowed and not c.get("system"))
        raise BootstrapError(
            f"the table has no column {title!r} for the {what} (columns of a usable type:"
            f" {', '.join(usable) or 'none'}); name it with --{what}-field"
        )
    if column["uidt"] not in allowed:
        raise BootstrapError(
            f"column {title!r} is a {column['uidt']}; the {what} column must be one of"
            f" {', '.join(sorted(allowed))}. facegate will not convert existing data"
        )


async def _prepare_columns(
    api: MetaApi,
    table_id: str,
    fields: FieldNames,
    names: PoliticianNames,
    statuses: Sequence[str],
    *,
    create: frozenset[str],
) -> dict[str, dict[str, Any]]:
    """Add the missing columns named in ``create`` (and always Status), check every type, and add the
    select options facegate needs: each politician's label, each Status value."""
    columns = await meta.table_columns(api, table_id)
    labels = list(names.labels.values())
    wanted = _column_specs(fields, names, statuses)
    checks = (
        (fields.image, IMAGE_TYPES, "image"),
        (fields.politician, POLITICIAN_TYPES, "politician"),
        (fields.status, STATUS_TYPES, "status"),
    )
    # Everything that is there is checked before anything is added: a refusal changes nothing.
    for title, allowed, what in checks:
        if title in columns or (title not in create and title != fields.status):
            _check_type(columns, title, allowed, what)
    added = False
    for title in (fields.politician, fields.image, fields.status):
        if title not in columns:
            logger.info("adding column %r (%s)", title, wanted[title]["uidt"])
            await api.call("POST", f"/api/v2/meta/tables/{table_id}/columns", wanted[title])
            added = True
    if added:
        columns = await meta.table_columns(api, table_id)

    changed = False
    politician = columns[fields.politician]
    if politician["uidt"] == "SingleSelect":
        changed |= await meta.ensure_select_options(api, politician, labels, _same_politician(names))
        for title in meta.option_titles(politician):
            if names.resolve(title) is None:
                logger.warning(
                    "option %r of %r names no politician in the reference folder: uploads naming it will"
                    " be rejected (unknown_politician). Add the politician, or give its profile.toml a"
                    " form_label",
                    title,
                    fields.politician,
                )
    else:
        logger.info(
            "%r is text: its cells must hold a politician's slug, name or form label", fields.politician
        )
    if columns[fields.status]["uidt"] == "SingleSelect":
        changed |= await meta.ensure_select_options(api, columns[fields.status], statuses)
    return await meta.table_columns(api, table_id) if changed else columns


def _column_specs(
    fields: FieldNames, names: PoliticianNames, statuses: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The columns facegate creates: the politician a select of labels, Status a select of its values."""
    return {
        fields.politician: meta.column_spec(fields.politician, "SingleSelect", list(names.labels.values())),
        fields.image: meta.column_spec(fields.image, "Attachment"),
        fields.status: meta.column_spec(fields.status, "SingleSelect", statuses),
    }


async def _share(api: MetaApi, view: Mapping[str, Any]) -> str:
    """The form's public uuid; sharing an already shared view returns the same uuid anyway."""
    if view.get("uuid"):
        return str(view["uuid"])
    shared = await api.call("POST", f"/api/v2/meta/views/{view['id']}/share")
    return str(shared["uuid"])


def _politician_names(politicians: PoliticianNames | Sequence[str], fields: FieldNames) -> PoliticianNames:
    names = politicians if isinstance(politicians, PoliticianNames) else PoliticianNames.of_slugs(politicians)
    if not len(names):
        raise BootstrapError(f"at least one politician is needed for the {fields.politician} field")
    return names


# ------------------------------------------------------------------------------------ entry points


async def bootstrap(
    *,
    base_url: str,
    email: str | None,
    password: str | None,
    facegate_url: str,
    webhook_secret: str,
    politicians: PoliticianNames | Sequence[str],
    base_title: str = "facegate",
    table_title: str = "Uploads",
    form_title: str = DEFAULT_FORM_TITLE,
    api_token: str | None = None,
    fields: FieldNames | None = None,
    action: RejectAction = RejectAction.DELETE,
    transport: httpx.AsyncBaseTransport | None = None,
) -> BootstrapResult:
    """Make NocoDB ready for facegate with a table of its own; safe to run repeatedly.

    ``politicians`` gives the form's choices (their labels; plain slugs are offered as they are).
    Pass the ``api_token`` of an earlier run to reuse it; without it a token described "facegate" is
    reused if NocoDB lists its value, and created otherwise. With an ``api_token`` and no password, no
    user session is needed at all (an operator who only has a token). ``action`` decides which
    Status values a SingleSelect Status must offer (``flag`` writes ``rejected: <reason>``).
    """
    fields = fields or FieldNames()
    names = _politician_names(politicians, fields)
    root = base_url.rstrip("/")
    async with httpx.AsyncClient(base_url=root, transport=transport, timeout=REQUEST_TIMEOUT_SECONDS) as http:
        api = MetaApi(http)
        token = await _authenticate(api, email, password, api_token)
        base_id = await _ensure_base(api, base_title)
        statuses = status_values(action)
        specs = _column_specs(fields, names, statuses)
        table_id = await _ensure_table(api, base_id, table_title, list(specs.values()))
        everything = frozenset(specs)
        columns = await _prepare_columns(api, table_id, fields, names, statuses, create=everything)
        view = await _ensure_form(api, table_id, form_title)
        await meta.configure_form(api, str(view["id"]), columns, fields)
        await meta.describe_form(api, str(view["id"]), FORM_RULES)
        await meta.hide_in_forms(api, table_id, str(columns[fields.status]["id"]), fields.status)
        form_uuid = await _share(api, view)
        hook_id = await meta.ensure_hook(api, table_id, meta.hook_body(facegate_url, webhook_secret))
    return _result(token, base_id, table_id, view, form_uuid, root, hook_id, columns, fields)


async def attach(
    *,
    base_url: str,
    api_token: str,
    table_id: str,
    facegate_url: str,
    webhook_secret: str,
    politicians: PoliticianNames | Sequence[str],
    fields: FieldNames | None = None,
    action: RejectAction = RejectAction.DELETE,
    transport: httpx.AsyncBaseTransport | None = None,
) -> BootstrapResult:
    """Attach facegate to the existing table ``table_id``; safe to run repeatedly.

    Creates no table and no form: the columns named by ``fields`` must exist (the image an
    Attachment, the politician a SingleSelect or text), except Status, which is added (a
    SingleSelect) when missing. The public form is the table's first shared form, if any.
    """
    fields = fields or FieldNames()
    names = _politician_names(politicians, fields)
    root = base_url.rstrip("/")
    async with httpx.AsyncClient(base_url=root, transport=transport, timeout=REQUEST_TIMEOUT_SECONDS) as http:
        api = MetaApi(http)
        token = await _check_token(api, api_token)
        response = await api.request("GET", f"/api/v2/meta/tables/{table_id}")
        if response.status_code in (400, 404):
            raise BootstrapError(
                f"NocoDB has no table {table_id!r} (or the token may not see it)", status=404
            )
        if not response.is_success:
            await api.call("GET", f"/api/v2/meta/tables/{table_id}")  # raises with NocoDB's message
        table = response.json()
        logger.info(
            "attaching to table %r (%s) of base %s", table.get("title"), table_id, table.get("base_id")
        )
        statuses = status_values(action)
        columns = await _prepare_columns(api, table_id, fields, names, statuses, create=frozenset())
        await meta.hide_in_forms(api, table_id, str(columns[fields.status]["id"]), fields.status)
        forms = await meta.form_views(api, table_id)
        shared = next((view for view in forms if view.get("uuid")), None)
        if shared is None:
            logger.warning(
                "none of the table's %d forms is shared: FACEGATE_FORM_URL is left as it is", len(forms)
            )
        hook_id = await meta.ensure_hook(api, table_id, meta.hook_body(facegate_url, webhook_secret))
    uuid = str(shared["uuid"]) if shared else None
    return _result(token, str(table["base_id"]), table_id, shared, uuid, root, hook_id, columns, fields)


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
    )


# ------------------------------------------------------------------------------------ own table


async def _ensure_base(api: MetaApi, title: str) -> str:
    existing = meta.find(await api.list_items("/api/v2/meta/bases"), title=title)
    if existing is not None:
        return str(existing["id"])
    logger.info("creating NocoDB base %r", title)
    created = await api.call("POST", "/api/v2/meta/bases", {"title": title})
    return str(created["id"])


async def _ensure_table(api: MetaApi, base_id: str, title: str, columns: list[dict[str, Any]]) -> str:
    """The table, found by title or created with ``columns`` (Id, CreatedAt, UpdatedAt are NocoDB's)."""
    existing = meta.find(await api.list_items(f"/api/v2/meta/bases/{base_id}/tables"), title=title)
    if existing is not None:
        return str(existing["id"])
    logger.info("creating NocoDB table %r", title)
    body = {"title": title, "columns": columns}
    created = await api.call("POST", f"/api/v2/meta/bases/{base_id}/tables", body)
    return str(created["id"])


async def _ensure_form(api: MetaApi, table_id: str, title: str) -> dict[str, Any]:
    existing = meta.find(await meta.form_views(api, table_id), title=title)
    if existing is not None:
        return existing
    logger.info("creating form view %r", title)
    created: dict[str, Any] = await api.call(
        "POST", f"/api/v2/meta/tables/{table_id}/forms", {"title": title}
    )
    return created
