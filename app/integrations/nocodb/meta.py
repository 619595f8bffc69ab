"""NocoDB's meta API as bootstrap uses it: one table's columns, select options, form views and
facegate's webhook. Each function looks before it writes, so running it again changes nothing.

Endpoint shapes were checked against NocoDB 0.301.3. Errors carry the method, the path (ids only),
the HTTP status and NocoDB's message, never a token or password.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import httpx

from app.config import FieldNames
from app.errors import CommandError
from app.integrations.nocodb.errors import nocodb_message

__all__ = [
    "HOOK_TITLE",
    "SECRET_HEADER",
    "BootstrapError",
    "MetaApi",
    "ensure_hook",
    "ensure_select_options",
    "find",
    "form_views",
    "hide_in_forms",
    "hook_body",
]

logger = logging.getLogger("app.integrations.nocodb.bootstrap")

HOOK_TITLE: Final = "facegate"
WEBHOOK_PATH: Final = "/webhooks/nocodb"
SECRET_HEADER: Final = "X-Facegate-Secret"  # noqa: S105 - a header name
# Without a body template NocoDB's v3 webhooks POST an empty body.
WEBHOOK_BODY_TEMPLATE: Final = "{{ json event }}"
# Inserts: new uploads. Updates: a changed attachment is a new upload, a moderator's Status a decision.
# Deletions: facegate erases the files of rows a moderator deletes.
HOOK_OPERATIONS: Final = ("insert", "update", "delete")
FORM_VIEW_TYPE: Final = 1  # NocoDB's ViewTypes.FORM


class BootstrapError(CommandError):
    """A NocoDB call failed, or the table holds something facegate must not silently change."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class MetaApi:
    """A thin wrapper that turns non-2xx answers and unreachable NocoDBs into ``BootstrapError``."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http
        self._auth: dict[str, str] = {}

    def authenticate(self, header: str, value: str) -> None:
        self._auth = {header: value}

    async def request(self, method: str, path: str, body: Any = None) -> httpx.Response:
        try:
            return await self._http.request(method, path, json=body, headers=self._auth)
        except httpx.TransportError as exc:
            raise BootstrapError(
                f"NocoDB is not reachable at {self._http.base_url}: {type(exc).__name__}"
                f"{': ' + str(exc) if str(exc) else ''}"
            ) from exc

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.request(method, path, body)
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


def find(items: Sequence[dict[str, Any]], **wanted: Any) -> dict[str, Any] | None:
    """The first item whose fields equal ``wanted``."""
    for item in items:
        if all(item.get(key) == value for key, value in wanted.items()):
            return item
    return None


# ------------------------------------------------------------------------------------ columns


async def table_columns(api: MetaApi, table_id: str) -> dict[str, dict[str, Any]]:
    table = await api.call("GET", f"/api/v2/meta/tables/{table_id}")
    return {column["title"]: column for column in table["columns"]}


def column_spec(title: str, uidt: str, options: Sequence[str] = ()) -> dict[str, Any]:
    spec: dict[str, Any] = {"title": title, "column_name": title, "uidt": uidt}
    if uidt == "SingleSelect":
        spec["colOptions"] = {"options": [{"title": option} for option in options]}
    return spec


def option_titles(column: Mapping[str, Any]) -> list[str]:
    return [str(o["title"]) for o in (column.get("colOptions") or {}).get("options") or []]


async def ensure_select_options(
    api: MetaApi,
    column: Mapping[str, Any],
    wanted: Sequence[str],
    same: Callable[[str, str], bool] = str.__eq__,
) -> bool:
    """Append each ``wanted`` option that no existing option stands for (``same(wanted, existing)``);
    existing options, their ids and colours, are kept as they are. Returns whether the column changed."""
    options: list[dict[str, Any]] = list((column.get("colOptions") or {}).get("options") or [])
    missing = [title for title in wanted if not any(same(title, str(o["title"])) for o in options)]
    if not missing:
        return False
    logger.info("adding options %s to column %r", missing, column["title"])
    body = {
        "title": column["title"],
        "column_name": column["column_name"],
        "uidt": column["uidt"],
        "colOptions": {"options": [*options, *({"title": title} for title in missing)]},
    }
    await api.call("PATCH", f"/api/v2/meta/columns/{column['id']}", body)
    return True


# ------------------------------------------------------------------------------------ forms


async def form_views(api: MetaApi, table_id: str) -> list[dict[str, Any]]:
    return [
        v
        for v in await api.list_items(f"/api/v2/meta/tables/{table_id}/views")
        if v.get("type") == FORM_VIEW_TYPE
    ]


async def hide_in_forms(api: MetaApi, table_id: str, column_id: str, title: str) -> None:
    """Hide a column in every form of the table: NocoDB drops a hidden field from a submission, so the
    public cannot set it (``required`` alone is only enforced in the form page)."""
    for view in await form_views(api, table_id):
        form = await api.call("GET", f"/api/v2/meta/forms/{view['id']}")
        for form_column in form["columns"]:
            if form_column["fk_column_id"] == column_id and form_column.get("show"):
                logger.info("hiding %r in form %r", title, view.get("title"))
                await api.call("PATCH", f"/api/v2/meta/form-columns/{form_column['id']}", {"show": False})


async def configure_form(
    api: MetaApi, view_id: str, columns: Mapping[str, Mapping[str, Any]], fields: FieldNames
) -> None:
    """In a form facegate made: require the politician and the image; patches only what differs."""
    required = {columns[fields.politician]["id"], columns[fields.image]["id"]}
    form = await api.call("GET", f"/api/v2/meta/forms/{view_id}")
    for form_column in form["columns"]:
        if form_column["fk_column_id"] in required and not (
            form_column.get("show") and form_column.get("required")
        ):
            await api.call(
                "PATCH", f"/api/v2/meta/form-columns/{form_column['id']}", {"show": True, "required": True}
            )


async def describe_form(api: MetaApi, view_id: str, subheading: str) -> None:
    """Give a form facegate made its rules, unless an operator already wrote a description."""
    form = await api.call("GET", f"/api/v2/meta/forms/{view_id}")
    if not (form.get("subheading") or "").strip():
        logger.info("writing the rules into the form's description")
        await api.call("PATCH", f"/api/v2/meta/forms/{view_id}", {"subheading": subheading})


# ------------------------------------------------------------------------------------ webhook


def hook_body(facegate_url: str, webhook_secret: str) -> dict[str, Any]:
    return {
        "title": HOOK_TITLE,
        "version": "v3",
        "event": "after",
        "operation": list(HOOK_OPERATIONS),
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


async def ensure_hook(api: MetaApi, table_id: str, wanted: dict[str, Any]) -> str:
    """facegate's one webhook on the table: created, updated when it differs, and any second hook
    titled ``facegate`` (made by hand, or by an older run) removed, so no event is delivered twice.
    The table's other hooks are not touched."""
    ours = [
        h
        for h in await api.list_items(f"/api/v2/meta/tables/{table_id}/hooks")
        if h.get("title") == HOOK_TITLE
    ]
    if not ours:
        logger.info("creating webhook %r", HOOK_TITLE)
        created = await api.call("POST", f"/api/v2/meta/tables/{table_id}/hooks", wanted)
        return str(created["id"])
    kept, *extra = ours
    for hook in extra:
        logger.info("removing a second webhook titled %r (id %s)", HOOK_TITLE, hook["id"])
        await api.call("DELETE", f"/api/v2/meta/hooks/{hook['id']}")
    if _hook_state(kept) != _hook_state(wanted):
        logger.info("updating webhook %r (URL, secret or events changed)", HOOK_TITLE)
        await api.call("PATCH", f"/api/v2/meta/hooks/{kept['id']}", wanted)
    else:
        logger.info("webhook %r is up to date", HOOK_TITLE)
    return str(kept["id"])
