"""Idempotent set-up of a NocoDB instance for facegate, over NocoDB's REST API.

It creates (or finds) the admin user, an API token, the base, the ``Uploads`` table, its public upload
form and the webhook that tells facegate of inserts, updates and deletions. Every step looks before
it creates, so running it again creates nothing new; it only adds select options for new politicians
and updates the webhook when facegate's URL, secret or events changed.

Endpoint shapes were checked against NocoDB 0.301.3. Passwords, JWTs and tokens never appear in
exceptions or logs: errors carry the method, the path (ids only), the HTTP status and NocoDB's message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from app.config import FieldNames
from app.integrations.nocodb.errors import nocodb_message

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_SECONDS: Final = 30.0
TOKEN_DESCRIPTION: Final = "facegate"  # noqa: S105 - a label, not a secret
HOOK_TITLE: Final = "facegate"
DEFAULT_FORM_TITLE: Final = "Upload"
WEBHOOK_PATH: Final = "/webhooks/nocodb"
SECRET_HEADER: Final = "X-Facegate-Secret"  # noqa: S105 - a header name
# Without a body template NocoDB's v3 webhooks POST an empty body.
WEBHOOK_BODY_TEMPLATE: Final = "{{ json event }}"

FORM_VIEW_TYPE: Final = 1  # NocoDB's ViewTypes.FORM


def column_types(fields: FieldNames) -> dict[str, str]:
    """Our columns and their NocoDB UI types; Id, CreatedAt and UpdatedAt are added by NocoDB itself."""
    return {fields.politician: "SingleSelect", fields.image: "Attachment", fields.status: "SingleLineText"}


def _wanted_form_column(title: str, fields: FieldNames) -> dict[str, bool]:
    """Uploaders fill in the politician and the image; Status is facegate's verdict and must not be
    settable from the form (a hidden form field is dropped by NocoDB on submission; "required" is
    only enforced in the UI)."""
    if title == fields.status:
        return {"show": False}
    if title in (fields.politician, fields.image):
        return {"show": True, "required": True}
    return {}


class BootstrapError(Exception):
    """A NocoDB call failed, or the instance holds something we must not silently change."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class BootstrapResult:
    """What facegate needs to talk to the NocoDB it just set up."""

    api_token: str = field(repr=False)
    base_id: str
    table_id: str
    form_view_id: str
    form_uuid: str
    form_url: str
    hook_id: str
    politician_column_id: str
    image_column_id: str
    status_column_id: str


# ------------------------------------------------------------------------------------ HTTP helper


class _Api:
    """A thin wrapper that turns non-2xx answers into BootstrapError, without echoing secrets."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http
        self._auth: dict[str, str] = {}

    def authenticate(self, header: str, value: str) -> None:
        self._auth = {header: value}

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        response = await self._http.request(method, path, json=body, headers=self._auth)
        if response.is_success:
            return response.json()
        raise BootstrapError(
            f"NocoDB {method} {path} failed with HTTP {response.status_code}: {nocodb_message(response)}",
            status=response.status_code,
        )

    async def list_items(self, path: str) -> list[dict[str, Any]]:
        """A NocoDB list endpoint's ``list`` (these meta lists are not paginated in practice)."""
        body = await self.call("GET", path)
        items: list[dict[str, Any]] = body.get("list", []) if isinstance(body, dict) else []
        return items


def _find(items: Sequence[dict[str, Any]], **wanted: Any) -> dict[str, Any] | None:
    """The first item whose fields equal ``wanted``."""
    for item in items:
        if all(item.get(key) == value for key, value in wanted.items()):
            return item
    return None


# ------------------------------------------------------------------------------------ steps


async def _sign_in(api: _Api, email: str, password: str) -> str:
    """Sign up when the instance has no user yet (the first user is super admin), else sign in."""
    info = await api.call("GET", "/api/v2/meta/nocodb/info")
    credentials = {"email": email, "password": password}
    if info.get("firstUser"):
        logger.info("NocoDB has no user yet: signing up %s as its admin", email)
        body = await api.call("POST", "/api/v2/auth/user/signup", credentials)
    else:
        body = await api.call("POST", "/api/v2/auth/user/signin", credentials)
    token: str = body["token"]
    return token


async def _token_works(http: httpx.AsyncClient, token: str) -> bool:
    response = await http.get("/api/v2/meta/bases", headers={"xc-token": token})
    return response.is_success


async def _ensure_api_token(api: _Api, http: httpx.AsyncClient, jwt: str, api_token: str | None) -> str:
    """Reuse the caller's token, else one we made earlier (listed by description), else create one.

    NocoDB 0.301.3 lists tokens with their values; should a later version mask them, we cannot reuse
    a listed token and create a new one, which is why callers should pass back ``api_token``.
    """
    if api_token is not None:
        if await _token_works(http, api_token):
            return api_token
        raise BootstrapError("the API token passed to bootstrap() is rejected by NocoDB", status=401)
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


async def _ensure_base(api: _Api, title: str) -> str:
    existing = _find(await api.list_items("/api/v2/meta/bases"), title=title)
    if existing is not None:
        return str(existing["id"])
    logger.info("creating NocoDB base %r", title)
    created = await api.call("POST", "/api/v2/meta/bases", {"title": title})
    return str(created["id"])


def _column_spec(title: str, uidt: str, politicians: Sequence[str]) -> dict[str, Any]:
    spec: dict[str, Any] = {"title": title, "column_name": title, "uidt": uidt}
    if uidt == "SingleSelect":
        spec["colOptions"] = {"options": [{"title": slug} for slug in politicians]}
    return spec


async def _ensure_table(
    api: _Api, base_id: str, title: str, fields: FieldNames, politicians: Sequence[str]
) -> str:
    tables = await api.list_items(f"/api/v2/meta/bases/{base_id}/tables")
    existing = _find(tables, title=title)
    if existing is not None:
        return str(existing["id"])
    logger.info("creating NocoDB table %r", title)
    columns = [_column_spec(name, uidt, politicians) for name, uidt in column_types(fields).items()]
    created = await api.call(
        "POST", f"/api/v2/meta/bases/{base_id}/tables", {"title": title, "columns": columns}
    )
    return str(created["id"])


async def _table_columns(api: _Api, table_id: str) -> dict[str, dict[str, Any]]:
    table = await api.call("GET", f"/api/v2/meta/tables/{table_id}")
    return {column["title"]: column for column in table["columns"]}


async def _ensure_columns(
    api: _Api, table_id: str, fields: FieldNames, politicians: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Add our missing columns and select options; refuse a same-named column of another type."""
    columns = await _table_columns(api, table_id)
    changed = False
    for title, uidt in column_types(fields).items():
        column = columns.get(title)
        if column is None:
            logger.info("adding column %r to table %s", title, table_id)
            body = _column_spec(title, uidt, politicians)
            await api.call("POST", f"/api/v2/meta/tables/{table_id}/columns", body)
            changed = True
        elif column["uidt"] != uidt:
            raise BootstrapError(
                f"column {title!r} of table {table_id} is a {column['uidt']}, expected {uidt}: "
                "fix or rename it in NocoDB, facegate will not convert existing data"
            )
    if changed:
        columns = await _table_columns(api, table_id)
    if await _add_select_options(api, columns[fields.politician], politicians):
        columns = await _table_columns(api, table_id)
    return columns


async def _add_select_options(api: _Api, column: Mapping[str, Any], politicians: Sequence[str]) -> bool:
    """Append options for new politicians; existing ones (and their ids/colours) are kept as is."""
    options: list[dict[str, Any]] = list((column.get("colOptions") or {}).get("options") or [])
    known = {option["title"] for option in options}
    missing = [slug for slug in politicians if slug not in known]
    if not missing:
        return False
    logger.info("adding politician options %s", missing)
    body = {
        "title": column["title"],
        "column_name": column["column_name"],
        "uidt": column["uidt"],
        "colOptions": {"options": [*options, *({"title": slug} for slug in missing)]},
    }
    await api.call("PATCH", f"/api/v2/meta/columns/{column['id']}", body)
    return True


async def _ensure_form(api: _Api, table_id: str, title: str) -> dict[str, Any]:
    views = await api.list_items(f"/api/v2/meta/tables/{table_id}/views")
    existing = _find(views, title=title, type=FORM_VIEW_TYPE)
    if existing is not None:
        return existing
    logger.info("creating form view %r", title)
    created: dict[str, Any] = await api.call(
        "POST", f"/api/v2/meta/tables/{table_id}/forms", {"title": title}
    )
    return created


async def _configure_form(
    api: _Api, view_id: str, columns: Mapping[str, Mapping[str, Any]], fields: FieldNames
) -> None:
    """Hide Status and require the politician and the image in the form; patches only what differs."""
    titles = {column["id"]: title for title, column in columns.items()}
    form = await api.call("GET", f"/api/v2/meta/forms/{view_id}")
    for form_column in form["columns"]:
        wanted = _wanted_form_column(titles.get(form_column["fk_column_id"], ""), fields)
        differs = {k: v for k, v in wanted.items() if bool(form_column.get(k)) != v}
        if differs:
            await api.call("PATCH", f"/api/v2/meta/form-columns/{form_column['id']}", differs)


async def _ensure_share(api: _Api, view: Mapping[str, Any]) -> str:
    """The form's public uuid; sharing an already shared view returns the same uuid anyway."""
    if view.get("uuid"):
        return str(view["uuid"])
    shared = await api.call("POST", f"/api/v2/meta/views/{view['id']}/share")
    return str(shared["uuid"])


def _hook_body(facegate_url: str, webhook_secret: str) -> dict[str, Any]:
    return {
        "title": HOOK_TITLE,
        "version": "v3",
        "event": "after",
        # Updates: a changed attachment is a new upload to moderate. Deletions: facegate erases the
        # files of rows a moderator deletes.
        "operation": ["insert", "update", "delete"],
        "active": True,
        "notification": {
            "type": "URL",
            "payload": {
                "method": "POST",
                "path": facegate_url.rstrip("/") + WEBHOOK_PATH,
                "body": WEBHOOK_BODY_TEMPLATE,
                "headers": [{"name": SECRET_HEADER, "value": webhook_secret, "enabled": True}],
                "parameters": [],
            },
        },
    }


def _hook_state(hook: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a hook we own, normalised: NocoDB lists ``notification`` as a JSON string."""
    notification = hook.get("notification") or {}
    if isinstance(notification, str):
        notification = json.loads(notification)
    payload = notification.get("payload") or {}
    return {
        "version": hook.get("version"),
        "event": hook.get("event"),
        "operation": list(hook.get("operation") or []),
        "active": bool(hook.get("active")),
        "type": notification.get("type"),
        "method": payload.get("method"),
        "path": payload.get("path"),
        "body": payload.get("body"),
        "headers": [
            (h.get("name"), h.get("value"), bool(h.get("enabled"))) for h in payload.get("headers") or []
        ],
    }


async def _ensure_hook(api: _Api, table_id: str, wanted: dict[str, Any]) -> str:
    existing = _find(await api.list_items(f"/api/v2/meta/tables/{table_id}/hooks"), title=HOOK_TITLE)
    if existing is None:
        logger.info("creating webhook %r", HOOK_TITLE)
        created = await api.call("POST", f"/api/v2/meta/tables/{table_id}/hooks", wanted)
        return str(created["id"])
    if _hook_state(existing) != _hook_state(wanted):
        logger.info("updating webhook %r (URL, secret or settings changed)", HOOK_TITLE)
        await api.call("PATCH", f"/api/v2/meta/hooks/{existing['id']}", wanted)
    return str(existing["id"])


def _unique(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


# ------------------------------------------------------------------------------------ entry point


async def bootstrap(
    *,
    base_url: str,
    email: str | None,
    password: str | None,
    facegate_url: str,
    webhook_secret: str,
    politicians: Sequence[str],
    base_title: str = "facegate",
    table_title: str = "Uploads",
    form_title: str = DEFAULT_FORM_TITLE,
    api_token: str | None = None,
    fields: FieldNames | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> BootstrapResult:
    """Make NocoDB ready for facegate and return the ids facegate needs; safe to run repeatedly.

    Pass the ``api_token`` of an earlier run to reuse it; without it a token described "facegate"
    is reused if NocoDB lists its value, and created otherwise. With an ``api_token`` and no password,
    no user session is needed at all (an operator who only has a token).
    """
    fields = fields or FieldNames()
    slugs = _unique(politicians)
    if not slugs:
        raise BootstrapError(f"at least one politician is needed for the {fields.politician} select field")
    root = base_url.rstrip("/")
    async with httpx.AsyncClient(base_url=root, transport=transport, timeout=REQUEST_TIMEOUT_SECONDS) as http:
        api = _Api(http)
        if api_token is not None and password is None:
            token = await _ensure_api_token(api, http, "", api_token)
        elif email and password:
            jwt = await _sign_in(api, email, password)
            token = await _ensure_api_token(api, http, jwt, api_token)
        else:
            raise BootstrapError("NocoDB admin credentials (e-mail and password) or an API token are needed")
        api.authenticate("xc-token", token)

        base_id = await _ensure_base(api, base_title)
        table_id = await _ensure_table(api, base_id, table_title, fields, slugs)
        columns = await _ensure_columns(api, table_id, fields, slugs)
        view = await _ensure_form(api, table_id, form_title)
        await _configure_form(api, str(view["id"]), columns, fields)
        form_uuid = await _ensure_share(api, view)
        hook_id = await _ensure_hook(api, table_id, _hook_body(facegate_url, webhook_secret))

    return BootstrapResult(
        api_token=token,
        base_id=base_id,
        table_id=table_id,
        form_view_id=str(view["id"]),
        form_uuid=form_uuid,
        form_url=f"{root}/#/nc/form/{form_uuid}",
        hook_id=hook_id,
        politician_column_id=str(columns[fields.politician]["id"]),
        image_column_id=str(columns[fields.image]["id"]),
        status_column_id=str(columns[fields.status]["id"]),
    )
