"""NocoDB's meta API: users and API tokens, bases, tables and their columns, form and grid views (their
filters, sorts and columns) and webhooks.

The calls and their shapes only; what facegate makes of them is ``app.commands.bootstrap``. Calls go
through ``NocoDBHttp`` (``app.integrations.nocodb.http``), like the records client's, with the same
errors and retry rules: reads retried on outages, writes sent once. Endpoint shapes were checked
against NocoDB 0.301.3. Errors carry the method, the path (ids only), the HTTP status and NocoDB's
message, never a request body, so never a password or token.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Final

import httpx

from app.integrations.nocodb.errors import NocoDBUnavailable
from app.integrations.nocodb.http import TOKEN_HEADER, NocoDBHttp

__all__ = [
    "FORM_VIEW_TYPE",
    "GRID_VIEW_TYPE",
    "META_TIMEOUT",
    "NocoDBMetaClient",
    "column_spec",
    "find",
    "option_titles",
    "select_options",
]

# Creating a table with its columns takes NocoDB a while.
META_TIMEOUT: Final = httpx.Timeout(30.0)
SESSION_HEADER: Final = "xc-auth"
FORM_VIEW_TYPE: Final = 1  # NocoDB's ViewTypes.FORM
GRID_VIEW_TYPE: Final = 3  # NocoDB's ViewTypes.GRID


class NocoDBMetaClient:
    """One NocoDB instance's meta API. Unauthenticated until ``use_session`` or ``use_token``."""

    def __init__(self, *, base_url: str, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._api = NocoDBHttp(base_url=base_url, timeout=META_TIMEOUT, transport=transport)

    async def __aenter__(self) -> NocoDBMetaClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._api.aclose()

    # ---------------------------------------------------------------------------- users and tokens

    def use_session(self, jwt: str) -> None:
        """Call as the user signed in (``xc-auth``): API tokens are listed and made only so."""
        self._api.authenticate(SESSION_HEADER, jwt)

    def use_token(self, token: str) -> None:
        self._api.authenticate(TOKEN_HEADER, token)

    async def info(self) -> dict[str, Any]:
        """The instance's public facts; ``firstUser`` is true while it has no user."""
        return _object(await self._api.json("GET", "api/v2/meta/nocodb/info"))

    async def sign_up(self, email: str, password: str) -> str:
        """A new user (the first one is super admin); returns the session's JWT."""
        body = await self._api.json("POST", "api/v2/auth/user/signup", json=_login(email, password))
        return str(_object(body)["token"])

    async def sign_in(self, email: str, password: str) -> str:
        """Returns the session's JWT."""
        body = await self._api.json("POST", "api/v2/auth/user/signin", json=_login(email, password))
        return str(_object(body)["token"])

    async def api_tokens(self) -> list[dict[str, Any]]:
        """The API tokens (``description``, ``token``; 0.301.3 lists their values); needs a session."""
        return _items(await self._api.json("GET", "api/v1/tokens"))

    async def create_api_token(self, description: str) -> str:
        body = await self._api.json("POST", "api/v1/tokens", json={"description": description})
        return str(_object(body)["token"])

    # ---------------------------------------------------------------------------- bases and tables

    async def bases(self) -> list[dict[str, Any]]:
        return _items(await self._api.json("GET", "api/v2/meta/bases"))

    async def create_base(self, title: str) -> str:
        body = await self._api.json("POST", "api/v2/meta/bases", json={"title": title})
        return str(_object(body)["id"])

    async def tables(self, base_id: str) -> list[dict[str, Any]]:
        return _items(await self._api.json("GET", f"api/v2/meta/bases/{base_id}/tables"))

    async def create_table(self, base_id: str, title: str, columns: Sequence[Mapping[str, Any]]) -> str:
        """A table with ``columns`` (``column_spec``) besides NocoDB's own Id, CreatedAt and UpdatedAt."""
        body = {"title": title, "columns": list(columns)}
        return str(
            _object(await self._api.json("POST", f"api/v2/meta/bases/{base_id}/tables", json=body))["id"]
        )

    async def table(self, table_id: str) -> dict[str, Any]:
        """The table: ``title``, ``base_id`` and its ``columns``."""
        return _object(await self._api.json("GET", f"api/v2/meta/tables/{table_id}"))

    async def columns(self, table_id: str) -> dict[str, dict[str, Any]]:
        """The table's columns by title: ``id``, ``uidt`` (the type), ``colOptions`` of a select. An
        answer without them is an outage (a proxy's page, a NocoDB half started), never "no column"."""
        columns = (await self.table(table_id)).get("columns")
        if not isinstance(columns, list):
            raise NocoDBUnavailable(f"NocoDB answered table {table_id}'s meta without its columns.")
        return {c["title"]: c for c in columns if isinstance(c, dict) and isinstance(c.get("title"), str)}

    async def add_column(self, table_id: str, spec: Mapping[str, Any]) -> None:
        await self._api.json("POST", f"api/v2/meta/tables/{table_id}/columns", json=dict(spec))

    async def set_select_options(
        self, column: Mapping[str, Any], options: Sequence[Mapping[str, Any]]
    ) -> None:
        """Replace a select column's options; pass the existing ones (with their ids and colours) to
        keep them. NocoDB wants the column's title, name and type with them."""
        body = {
            "title": column["title"],
            "column_name": column["column_name"],
            "uidt": column["uidt"],
            "colOptions": {"options": list(options)},
        }
        await self._api.json("PATCH", f"api/v2/meta/columns/{column['id']}", json=body)

    # ---------------------------------------------------------------------------- form views

    async def form_views(self, table_id: str) -> list[dict[str, Any]]:
        """The table's form views: ``id``, ``title``, and ``uuid`` once shared."""
        return await self._views(table_id, FORM_VIEW_TYPE)

    async def _views(self, table_id: str, view_type: int) -> list[dict[str, Any]]:
        views = _items(await self._api.json("GET", f"api/v2/meta/tables/{table_id}/views"))
        return [view for view in views if view.get("type") == view_type]

    async def create_form(self, table_id: str, title: str) -> dict[str, Any]:
        body = await self._api.json("POST", f"api/v2/meta/tables/{table_id}/forms", json={"title": title})
        return _object(body)

    async def form(self, view_id: str) -> dict[str, Any]:
        """A form view: its ``subheading``, and its ``columns`` (``id``, ``fk_column_id``, ``show``,
        ``required``)."""
        return _object(await self._api.json("GET", f"api/v2/meta/forms/{view_id}"))

    async def update_form(self, view_id: str, changes: Mapping[str, Any]) -> None:
        await self._api.json("PATCH", f"api/v2/meta/forms/{view_id}", json=dict(changes))

    async def update_form_column(self, form_column_id: str, changes: Mapping[str, Any]) -> None:
        await self._api.json("PATCH", f"api/v2/meta/form-columns/{form_column_id}", json=dict(changes))

    async def share_view(self, view_id: str) -> str:
        """The view's public uuid; sharing an already shared view returns the same uuid."""
        return str(_object(await self._api.json("POST", f"api/v2/meta/views/{view_id}/share"))["uuid"])

    # ---------------------------------------------------------------------------- grid views

    async def grid_views(self, table_id: str) -> list[dict[str, Any]]:
        """The table's grid views: ``id``, ``title``."""
        return await self._views(table_id, GRID_VIEW_TYPE)

    async def create_grid(self, table_id: str, title: str) -> dict[str, Any]:
        """A grid view of every column, unfiltered and unsorted."""
        body = await self._api.json("POST", f"api/v2/meta/tables/{table_id}/grids", json={"title": title})
        return _object(body)

    async def view_filters(self, view_id: str) -> list[dict[str, Any]]:
        """A view's filters: ``id``, ``fk_column_id``, ``comparison_op``, ``value``, and ``fk_parent_id``
        for one inside a group."""
        return _items(await self._api.json("GET", f"api/v2/meta/views/{view_id}/filters"))

    async def add_filter(self, view_id: str, column_id: str, comparison_op: str, value: str) -> None:
        body = {"fk_column_id": column_id, "comparison_op": comparison_op, "value": value}
        await self._api.json("POST", f"api/v2/meta/views/{view_id}/filters", json=body)

    async def delete_filter(self, filter_id: str) -> None:
        await self._api.json("DELETE", f"api/v2/meta/filters/{filter_id}")

    async def view_sorts(self, view_id: str) -> list[dict[str, Any]]:
        """A view's sorts, in order: ``id``, ``fk_column_id``, ``direction`` (``asc``, ``desc``)."""
        return _items(await self._api.json("GET", f"api/v2/meta/views/{view_id}/sorts"))

    async def add_sort(self, view_id: str, column_id: str, direction: str) -> None:
        # No PATCH: 0.301.3 drops the column of a sort patched without it, and the view's rows then fail.
        body = {"fk_column_id": column_id, "direction": direction}
        await self._api.json("POST", f"api/v2/meta/views/{view_id}/sorts", json=body)

    async def delete_sort(self, sort_id: str) -> None:
        await self._api.json("DELETE", f"api/v2/meta/sorts/{sort_id}")

    async def view_columns(self, view_id: str) -> list[dict[str, Any]]:
        """A grid's columns: ``id`` (the view's own), ``fk_column_id`` (the table's), ``show``, ``order``."""
        return _items(await self._api.json("GET", f"api/v2/meta/views/{view_id}/columns"))

    async def update_view_column(self, view_id: str, view_column_id: str, changes: Mapping[str, Any]) -> None:
        path = f"api/v2/meta/views/{view_id}/columns/{view_column_id}"
        await self._api.json("PATCH", path, json=dict(changes))

    # ---------------------------------------------------------------------------- webhooks

    async def hooks(self, table_id: str) -> list[dict[str, Any]]:
        """The table's webhooks, each ``notification`` a dict (NocoDB lists it as a JSON string)."""
        hooks = _items(await self._api.json("GET", f"api/v2/meta/tables/{table_id}/hooks"))
        return [hook | {"notification": _notification(hook.get("notification"))} for hook in hooks]

    async def create_hook(self, table_id: str, hook: Mapping[str, Any]) -> str:
        body = await self._api.json("POST", f"api/v2/meta/tables/{table_id}/hooks", json=dict(hook))
        return str(_object(body)["id"])

    async def update_hook(self, hook_id: str, hook: Mapping[str, Any]) -> None:
        await self._api.json("PATCH", f"api/v2/meta/hooks/{hook_id}", json=dict(hook))

    async def delete_hook(self, hook_id: str) -> None:
        await self._api.json("DELETE", f"api/v2/meta/hooks/{hook_id}")


def column_spec(title: str, uidt: str, options: Sequence[str] = ()) -> dict[str, Any]:
    """A new column's body: ``uidt`` is NocoDB's type; a SingleSelect offers ``options``."""
    spec: dict[str, Any] = {"title": title, "column_name": title, "uidt": uidt}
    if uidt == "SingleSelect":
        spec["colOptions"] = {"options": [{"title": option} for option in options]}
    return spec


def option_titles(column: Mapping[str, Any]) -> list[str]:
    """A select column's options, in order."""
    return [str(o["title"]) for o in select_options(column)]


def select_options(column: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A select column's options as NocoDB has them (``id``, ``title``, ``color``); none for text."""
    return list((column.get("colOptions") or {}).get("options") or [])


def find(items: Sequence[dict[str, Any]], **wanted: Any) -> dict[str, Any] | None:
    """The first item of a meta list whose fields equal ``wanted``."""
    for item in items:
        if all(item.get(key) == value for key, value in wanted.items()):
            return item
    return None


def _login(email: str, password: str) -> dict[str, str]:
    return {"email": email, "password": password}


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise NocoDBUnavailable("NocoDB answered a meta call with an unexpected body.")
    return body


def _items(body: Any) -> list[dict[str, Any]]:
    """A meta list's ``list`` (these lists are not paginated in practice)."""
    items = body.get("list", []) if isinstance(body, dict) else []
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _notification(value: Any) -> dict[str, Any]:
    parsed = json.loads(value) if isinstance(value, str) and value else value
    return parsed if isinstance(parsed, dict) else {}
