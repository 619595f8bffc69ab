"""The meta client against fake servers: the records client's retry rule and errors, the credentials
it sends, and the shapes it gives back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest

from app.integrations.nocodb.errors import NocoDBRequestError, NocoDBUnavailable, NocoDBUnreachable
from app.integrations.nocodb.http import BACKOFF_SECONDS, MAX_ATTEMPTS
from app.integrations.nocodb.meta import NocoDBMetaClient

BASE = "http://nocodb.test"
T = TypeVar("T")
Handler = Callable[[httpx.Request], httpx.Response]
Action = Callable[[NocoDBMetaClient], Awaitable[Any]]


def call(handler: Handler, action: Callable[[NocoDBMetaClient], Awaitable[T]]) -> T:
    """Run ``action`` on a meta client whose server is ``handler``."""

    async def main() -> T:
        async with NocoDBMetaClient(base_url=BASE, transport=httpx.MockTransport(handler)) as meta:
            return await action(meta)

    return asyncio.run(main())


def test_reads_are_retried_on_an_outage(sleeps: list[float]) -> None:
    bases = [{"id": "p1", "title": "facegate"}]
    answers = iter([httpx.Response(503), httpx.Response(200, json={"list": bases})])
    assert call(lambda request: next(answers), lambda meta: meta.bases()) == bases
    assert sleeps == [BACKOFF_SECONDS[0]]


WRITES: dict[str, Action] = {
    "create base": lambda meta: meta.create_base("facegate"),
    "add column": lambda meta: meta.add_column("m1", {"title": "Status", "uidt": "SingleSelect"}),
    "create hook": lambda meta: meta.create_hook("m1", {"title": "facegate"}),
    "update hook": lambda meta: meta.update_hook("hk1", {"title": "facegate"}),
    "delete hook": lambda meta: meta.delete_hook("hk1"),
    "hide in a form": lambda meta: meta.update_form_column("fc1", {"show": False}),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_writes_are_sent_once(write: Action, sleeps: list[float]) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        raise httpx.ReadTimeout("lost answer", request=request)

    with pytest.raises(NocoDBUnreachable):
        call(handler, write)
    assert len(seen) == 1 and sleeps == []


def test_a_missing_table_is_refused_and_an_unknown_route_is_an_outage(sleeps: list[float]) -> None:
    missing = {"error": "ERR_TABLE_NOT_FOUND", "message": "Table 'm0' not found"}
    with pytest.raises(NocoDBRequestError) as refused:
        call(lambda request: httpx.Response(404, json=missing), lambda meta: meta.table("m0"))
    assert refused.value.status_code == 404 and "Table 'm0' not found" in refused.value.message
    assert sleeps == []

    # While NocoDB starts, every route is a 404 that names no table.
    starting = {"msg": "Cannot GET /api/v2/meta/tables/m0"}
    with pytest.raises(NocoDBUnavailable):
        call(lambda request: httpx.Response(404, json=starting), lambda meta: meta.table("m0"))
    assert len(sleeps) == MAX_ATTEMPTS - 1


def test_a_refused_sign_in_names_nocodbs_reason_never_the_password() -> None:
    password = "Not-The-Password-9"
    with pytest.raises(NocoDBRequestError) as refused:
        call(
            lambda request: httpx.Response(400, json={"msg": "Invalid credentials"}),
            lambda meta: meta.sign_in("admin@facegate.test", password),
        )
    assert refused.value.status_code == 400
    assert "Invalid credentials" in refused.value.message and password not in refused.value.message


def test_a_session_then_a_token_each_replace_the_other() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/signin"):
            return httpx.Response(200, json={"token": "jwt-1"})
        return httpx.Response(200, json={"list": []})

    async def steps(meta: NocoDBMetaClient) -> None:
        meta.use_session(await meta.sign_in("admin@facegate.test", "pw"))
        await meta.api_tokens()
        meta.use_token("tok-1")
        await meta.bases()

    call(handler, steps)
    credentials = [(r.headers.get("xc-auth"), r.headers.get("xc-token")) for r in seen]
    assert credentials == [(None, None), ("jwt-1", None), (None, "tok-1")]


def test_hooks_come_with_their_notification_parsed() -> None:
    notification = {"type": "URL", "payload": {"method": "POST", "path": "http://facegate/webhooks/nocodb"}}
    listed = {"list": [{"id": "hk1", "title": "facegate", "notification": json.dumps(notification)}]}
    hooks = call(lambda request: httpx.Response(200, json=listed), lambda meta: meta.hooks("m1"))
    assert hooks == [{"id": "hk1", "title": "facegate", "notification": notification}]


def test_select_options_are_sent_with_the_column_nocodb_wants() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    column = {"id": "c1", "title": "Status", "column_name": "Status", "uidt": "SingleSelect"}
    kept = {"id": "o1", "title": "approved", "color": "#cfdffe"}
    call(handler, lambda meta: meta.set_select_options(column, [kept, {"title": "review"}]))
    [request] = seen
    assert (request.method, request.url.path) == ("PATCH", "/api/v2/meta/columns/c1")
    assert json.loads(request.content) == {
        "title": "Status",
        "column_name": "Status",
        "uidt": "SingleSelect",
        "colOptions": {"options": [kept, {"title": "review"}]},
    }
