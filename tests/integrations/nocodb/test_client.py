from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest

from app.integrations.nocodb.client import MAX_REDIRECTS, NocoDBClient
from app.integrations.nocodb.errors import (
    AttachmentRefused,
    NocoDBRequestError,
    NocoDBTokenRefused,
    NocoDBUnavailable,
    NocoDBUnreachable,
)
from app.integrations.nocodb.http import BACKOFF_SECONDS, MAX_ATTEMPTS, MAX_RETRY_AFTER_SECONDS

BASE = "http://nocodb.test"
TOKEN = "test-api-token"
TABLE = "m3nx10p8o6cyd9w"
PATH = "download/2026/11/22/abc/face.jpg"
SIGNED = "dltemp/8lmd/1795324200000/2026/11/22/abc/face.jpg"
T = TypeVar("T")
Handler = Callable[[httpx.Request], httpx.Response]


def call(handler: Handler, action: Callable[[NocoDBClient], Awaitable[T]], **kwargs: Any) -> T:
    """Run ``action`` on a client whose server is ``handler``."""

    async def main() -> T:
        nocodb = NocoDBClient(
            base_url=kwargs.pop("base_url", BASE),
            api_token=kwargs.pop("api_token", TOKEN),
            transport=httpx.MockTransport(handler),
            **kwargs,
        )
        try:
            return await action(nocodb)
        finally:
            await nocodb.aclose()

    return asyncio.run(main())


def fails(status: int, body: object = None, headers: dict[str, str] | None = None) -> Handler:
    return lambda request: httpx.Response(status, json=body or {"msg": "nope"}, headers=headers)


class FakeTable:
    """A records API over rows ``1..n`` whose Status is blank until ``decide`` is called."""

    def __init__(self, n: int) -> None:
        self.blank = list(range(1, n + 1))
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert len(self.requests) < 20, "the client keeps paging"
        offset, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
        after = re.search(r"~and\(Id,gt,(\d+)\)$", request.url.params["where"])
        matching = [i for i in self.blank if after is None or i > int(after.group(1))]
        page = matching[offset : offset + limit]
        last = offset + limit >= len(matching)
        return httpx.Response(200, json={"list": [{"Id": i} for i in page], "pageInfo": {"isLastPage": last}})


async def collect(nocodb: NocoDBClient, table: FakeTable | None = None) -> list[int]:
    ids = []
    async for row in nocodb.iter_rows(TABLE, where="(Status,blank)", fields=["Id", "Image"]):
        ids.append(row["Id"])
        if table is not None and row["Id"] <= 50:
            table.blank.remove(row["Id"])  # decided by the queue runner meanwhile
    return ids


def test_iter_rows_pages_by_id_until_last_page() -> None:
    table = FakeTable(250)
    assert call(table, collect) == list(range(1, 251))
    assert [r.url.params["where"].split("~and")[1] for r in table.requests] == [
        "(Id,gt,0)",
        "(Id,gt,100)",
        "(Id,gt,200)",
    ]
    assert {r.url.params["offset"] for r in table.requests} == {"0"}
    first = table.requests[0]
    assert first.method == "GET" and first.url.path == f"/api/v2/tables/{TABLE}/records"
    assert dict(first.url.params) == {
        "where": "(Status,blank)~and(Id,gt,0)",
        "fields": "Id,Image",
        "sort": "Id",
        "limit": "100",
        "offset": "0",
    }


def test_iter_rows_does_not_skip_rows_decided_during_iteration() -> None:
    table = FakeTable(150)
    assert call(table, lambda c: collect(c, table)) == list(range(1, 151))


def test_list_rows_without_page_info_is_last_when_short() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"list": [{"Id": 1}, "junk", {"Id": 2}]})

    short = call(handler, lambda c: c.list_rows(TABLE, where="", fields=["Id"], limit=3))
    full = call(handler, lambda c: c.list_rows(TABLE, where="", fields=["Id"], limit=2))
    assert short.rows == [{"Id": 1}, {"Id": 2}] and short.is_last
    assert not full.is_last


def test_iter_rows_stops_on_an_empty_page() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"list": [], "pageInfo": {"isLastPage": False}})

    assert call(handler, collect) == []


def test_list_rows_with_a_non_object_body_is_a_nocodb_error() -> None:
    with pytest.raises(NocoDBUnavailable):
        call(fails(200, ["not", "an", "object"]), collect)


def test_get_row_returns_the_row_or_none_when_gone() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/7"):
            return httpx.Response(200, json={"Id": 7, "Status": None})
        if request.url.path.endswith("/records"):  # "gone" is checked against the list
            return httpx.Response(200, json={"list": [], "pageInfo": {"isLastPage": True}})
        return httpx.Response(404, json={"error": "ERR_RECORD_NOT_FOUND"})

    assert call(handler, lambda c: c.get_row(TABLE, 7)) == {"Id": 7, "Status": None}
    assert call(handler, lambda c: c.get_row(TABLE, 8)) is None
    assert [(r.method, r.url.path) for r in seen] == [
        ("GET", f"/api/v2/tables/{TABLE}/records/7"),
        ("GET", f"/api/v2/tables/{TABLE}/records/8"),
        ("GET", f"/api/v2/tables/{TABLE}/records"),
    ]
    with pytest.raises(NocoDBRequestError) as info:
        call(fails(400), lambda c: c.get_row(TABLE, 7))
    assert info.value.status_code == 400


@pytest.mark.parametrize("code", ["ERR_TABLE_NOT_FOUND", "ERR_BASE_NOT_FOUND"])
def test_a_table_nocodb_does_not_find_is_an_outage_not_a_deleted_row(code: str) -> None:
    # A mistyped table id, a base being restored: taken for "row gone", every row would be decided so.
    with pytest.raises(NocoDBUnavailable) as info:
        call(fails(404, {"error": code, "message": "not found"}), lambda c: c.get_row(TABLE, 7))
    assert code in info.value.message and "FACEGATE_NOCODB_TABLE_ID" in info.value.message


def test_update_row_patches_id_and_fields() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"Id": 3})

    call(handler, lambda c: c.update_row(TABLE, 3, {"Status": "approved"}))
    [request] = seen
    assert (request.method, request.url.path) == ("PATCH", f"/api/v2/tables/{TABLE}/records")
    assert json.loads(request.content) == {"Id": 3, "Status": "approved"}


def test_delete_row_true_when_deleted_false_when_already_gone() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(200, json=[{"Id": 4}])
        return httpx.Response(404, json={"error": "ERR_RECORD_NOT_FOUND"})

    assert call(handler, lambda c: c.delete_row(TABLE, 4)) is True
    assert call(handler, lambda c: c.delete_row(TABLE, 4)) is False
    assert seen[0].method == "DELETE" and json.loads(seen[0].content) == [{"Id": 4}]
    with pytest.raises(NocoDBRequestError) as info:
        call(fails(400), lambda c: c.delete_row(TABLE, 4))
    assert info.value.status_code == 400


def test_token_on_api_calls_never_on_downloads() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"Id": 1}) if "api" in request.url.path else httpx.Response(200)

    async def both(c: NocoDBClient) -> None:
        await c.get_row(TABLE, 1)
        await c.download({"path": PATH}, max_bytes=100)
        await c.download({"url": "https://files.test/a.jpg"}, max_bytes=100)

    call(handler, both, allowed_origins=["https://files.test"])
    assert [r.headers.get("xc-token") for r in seen] == [TOKEN, None, None]
    call(handler, lambda c: c.get_row(TABLE, 1), api_token=None)
    assert "xc-token" not in seen[-1].headers


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_operational_status_retried_a_bounded_number_of_times(status: int, sleeps: list[float]) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json={"msg": "busy"})

    with pytest.raises(NocoDBUnavailable) as info:
        call(handler, lambda c: c.get_row(TABLE, 1))
    assert len(seen) == MAX_ATTEMPTS
    assert info.value.status_code == status
    assert sleeps == list(BACKOFF_SECONDS[: MAX_ATTEMPTS - 1])


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ReadTimeout])
def test_transport_errors_retried_then_unavailable(
    error: type[httpx.TransportError], sleeps: list[float]
) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise error("down", request=request)

    with pytest.raises(NocoDBUnavailable) as info:
        call(handler, lambda c: c.get_row(TABLE, 1))
    assert calls == MAX_ATTEMPTS
    assert isinstance(info.value, NocoDBUnreachable)
    assert isinstance(info.value.__cause__, error)
    assert len(sleeps) == MAX_ATTEMPTS - 1


@pytest.mark.parametrize("write", ["update", "delete"])
def test_writes_are_sent_once(write: str, sleeps: list[float]) -> None:
    # A DELETE whose answer was lost may have happened; a retry could hit a new row with the reused Id.
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        raise httpx.ReadTimeout("lost answer", request=request)

    action = (
        (lambda c: c.update_row(TABLE, 1, {"Status": "x"}))
        if write == "update"
        else (lambda c: c.delete_row(TABLE, 1))
    )
    with pytest.raises(NocoDBUnavailable):
        call(handler, action)
    assert len(seen) == 1 and sleeps == []


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.usefixtures("sleeps")
def test_a_refused_token_is_operational_not_final(status: int) -> None:
    with pytest.raises(NocoDBUnavailable) as info:
        call(fails(status), lambda c: c.update_row(TABLE, 1, {"Status": "x"}))
    assert info.value.status_code == status and "token" in info.value.message


def test_a_refused_token_is_not_retried_and_is_logged_for_the_operator(
    sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(401, json={"msg": "Unauthorized"})

    with pytest.raises(NocoDBTokenRefused):
        call(handler, lambda c: c.get_row(TABLE, 1))
    assert len(seen) == 1 and sleeps == []
    assert "check FACEGATE_NOCODB_API_TOKEN" in caplog.text


def test_retry_succeeds_after_a_transient_failure(sleeps: list[float]) -> None:
    answers = iter([httpx.Response(503), httpx.Response(200, json={"Id": 1})])
    assert call(lambda request: next(answers), lambda c: c.get_row(TABLE, 1)) == {"Id": 1}
    assert sleeps == [BACKOFF_SECONDS[0]]


def test_retry_after_is_honoured_and_capped(sleeps: list[float]) -> None:
    answers = iter([fails(429, headers={"Retry-After": "2"}), fails(503, headers={"Retry-After": "120"})])
    last = fails(429, headers={"Retry-After": "7"})

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers, last)(request)

    with pytest.raises(NocoDBUnavailable) as info:
        call(handler, lambda c: c.get_row(TABLE, 1))
    assert sleeps == [2.0, MAX_RETRY_AFTER_SECONDS]
    assert info.value.retry_after == 7.0


@pytest.mark.usefixtures("sleeps")
def test_a_404_that_is_not_nocodbs_record_not_found_is_an_outage() -> None:
    # While NocoDB starts, express answers every route with an HTML 404: the row is not gone.
    starting = fails(404, None)

    def html(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="<pre>Cannot GET /api/v2/tables/x/records/19</pre>")

    for handler in (html, starting):
        with pytest.raises(NocoDBUnavailable):
            call(handler, lambda c: c.get_row(TABLE, 19))
        with pytest.raises(NocoDBUnavailable):
            call(handler, lambda c: c.delete_row(TABLE, 19))
    assert call(_gone_from_both, lambda c: c.get_row(TABLE, 19)) is None


def _gone_from_both(request: httpx.Request) -> httpx.Response:
    """A row NocoDB answers as missing, and does not list either."""
    if request.url.path.endswith("/records"):
        assert request.url.params["where"] == "(Id,eq,19)"
        return httpx.Response(200, json={"list": [], "pageInfo": {"isLastPage": True}})
    return httpx.Response(404, json={"error": "ERR_RECORD_NOT_FOUND", "message": "Record '19' not found"})


@pytest.mark.parametrize("missing", [{}, [], {"Status": None}])
def test_a_row_answered_missing_but_listed_is_an_outage_not_gone(missing: object) -> None:
    # "Gone" finishes a job and lets its files be erased: NocoDB's {} (or a 404) for a row its records
    # list still has is asked again later, never taken for a deletion.
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/records"):
            return httpx.Response(200, json={"list": [{"Id": 19}], "pageInfo": {"isLastPage": True}})
        return httpx.Response(200, json=missing)

    with pytest.raises(NocoDBUnavailable, match="lists it"):
        call(handler, lambda c: c.get_row(TABLE, 19))


@pytest.mark.parametrize("status", [400, 422])
def test_other_client_errors_are_not_retried(status: int, sleeps: list[float]) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json={"msg": "refused here"})

    with pytest.raises(NocoDBRequestError) as info:
        call(handler, lambda c: c.update_row(TABLE, 1, {"Status": "x"}))
    assert info.value.status_code == status and "refused here" in info.value.message
    assert len(seen) == 1 and sleeps == []


def test_a_body_that_is_not_json_is_unavailable() -> None:
    with pytest.raises(NocoDBUnavailable):
        call(lambda request: httpx.Response(200, text="<html>proxy</html>"), lambda c: c.get_row(TABLE, 1))


# Attachments.


def urls(attachment: dict[str, Any], **kwargs: Any) -> list[str]:
    return NocoDBClient(base_url=kwargs.pop("base_url", BASE), api_token=TOKEN, **kwargs).attachment_urls(
        attachment
    )


def files(routes: dict[str, httpx.Response], seen: list[str]) -> Handler:
    """A file server: each URL's answer, 404 for the rest; requested URLs appended to ``seen``."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return routes.get(str(request.url), httpx.Response(404))

    return handler


def redirect(location: str) -> httpx.Response:
    return httpx.Response(302, headers={"Location": location})


def download(handler: Handler, attachment: dict[str, Any], max_bytes: int = 1000, **kwargs: Any) -> bytes:
    return call(handler, lambda c: c.download(attachment, max_bytes=max_bytes), **kwargs)


def test_relative_paths_joined_to_base_url_path_first() -> None:
    attachment = {"signedPath": SIGNED, "path": PATH, "title": "face.jpg"}
    assert urls(attachment) == [f"{BASE}/{PATH}", f"{BASE}/{SIGNED}"]
    assert urls({"path": PATH}, base_url="http://host.test/nc") == [f"http://host.test/nc/{PATH}"]


def test_absolute_urls_only_from_nocodb_or_allowed_origins() -> None:
    assert urls({"url": f"{BASE}:80/{PATH}"}) == [f"{BASE}:80/{PATH}"]
    with pytest.raises(AttachmentRefused):
        urls({"url": "https://bucket.s3.test/a.jpg"})
    allowed = urls(
        {"signedUrl": "https://bucket.s3.test/a.jpg?sig=1"}, allowed_origins=["https://bucket.s3.test/"]
    )
    assert allowed == ["https://bucket.s3.test/a.jpg?sig=1"]
    # A refused candidate does not hide an allowed one.
    assert urls({"url": "http://evil.test/a.jpg", "path": PATH}) == [f"{BASE}/{PATH}"]


@pytest.mark.parametrize(
    "location",
    [
        "file:///etc/passwd",
        "ftp://nocodb.test/a.jpg",
        "//evil.test/a.jpg",
        "../secret.jpg",
        "download/../../etc/passwd",
        "%2e%2e/secret.jpg",
        "download/%2E%2E/%2e%2e/etc/passwd",
        "/etc/passwd",
        "download\\..\\secret.jpg",
        "",
        "download/" + "a/" * 50_000 + "b.jpg",  # a forged 100 kB location
    ],
)
def test_locations_outside_nocodb_are_refused(location: str) -> None:
    with pytest.raises(AttachmentRefused):
        urls({"path": location})


def test_malformed_url_is_refused_like_any_other() -> None:
    assert urls({"path": PATH, "url": "http://nocodb.test:99999/a.jpg"}) == [f"{BASE}/{PATH}"]


def test_a_url_httpx_cannot_build_is_refused_not_an_error() -> None:
    with pytest.raises(AttachmentRefused):
        download(files({}, []), {"url": "http://nocodb.test/a.jpg\r\nX-Injected: 1"})


def test_allowed_origins_are_normalised_like_urls() -> None:
    found = urls({"url": "https://bucket.s3.test/a.jpg"}, allowed_origins=["https://Bucket.S3.test:443"])
    assert found == ["https://bucket.s3.test/a.jpg"]


def test_download_tries_path_first_then_signed_path_on_404() -> None:
    seen: list[str] = []
    routes = {f"{BASE}/{PATH}": httpx.Response(200, content=b"path"), f"{BASE}/{SIGNED}": httpx.Response(200)}
    assert download(files(routes, seen), {"signedPath": SIGNED, "path": PATH}) == b"path"
    assert seen == [f"{BASE}/{PATH}"]
    seen.clear()
    routes = {f"{BASE}/{SIGNED}": httpx.Response(200, content=b"signed")}
    assert download(files(routes, seen), {"signedPath": SIGNED, "path": PATH}) == b"signed"
    assert seen == [f"{BASE}/{PATH}", f"{BASE}/{SIGNED}"]


def test_download_gone_everywhere_is_refused_with_404() -> None:
    with pytest.raises(AttachmentRefused) as info:
        download(files({}, []), {"signedPath": SIGNED, "path": PATH})
    assert info.value.status_code == 404


def test_redirect_to_another_host_is_refused_and_not_followed() -> None:
    seen: list[str] = []
    routes = {f"{BASE}/{PATH}": redirect("http://169.254.169.254/latest/meta-data")}
    with pytest.raises(AttachmentRefused):
        download(files(routes, seen), {"path": PATH})
    assert seen == [f"{BASE}/{PATH}"]


def test_redirects_within_the_origin_are_followed_up_to_the_limit() -> None:
    hops = [f"{BASE}/hop/{i}" for i in range(MAX_REDIRECTS + 1)]
    routes = {f"{BASE}/{PATH}": redirect("/hop/0")}  # a Location without host
    routes |= {hops[i]: redirect(hops[i + 1]) for i in range(MAX_REDIRECTS)}
    routes[hops[MAX_REDIRECTS - 1]] = httpx.Response(200, content=b"image")
    seen: list[str] = []
    assert download(files(routes, seen), {"path": PATH}) == b"image"
    assert seen == [f"{BASE}/{PATH}", *hops[:MAX_REDIRECTS]]
    routes[hops[MAX_REDIRECTS - 1]] = redirect(hops[MAX_REDIRECTS])
    with pytest.raises(AttachmentRefused, match="redirects"):
        download(files(routes, []), {"path": PATH})


def test_declared_length_over_the_limit_is_refused() -> None:
    response = httpx.Response(200, headers={"Content-Length": "5000"}, content=b"small")
    with pytest.raises(AttachmentRefused, match="5000"):
        download(lambda request: response, {"path": PATH}, max_bytes=1000)


def test_streamed_body_over_the_limit_is_refused_without_reading_it_all() -> None:
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(100):
            sent += 1
            yield b"x" * 100

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body())

    with pytest.raises(AttachmentRefused, match="larger than 1000"):
        download(handler, {"path": PATH}, max_bytes=1000)
    assert sent < 100
    assert download(handler, {"path": PATH}, max_bytes=10_000) == b"x" * 10_000


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_download_server_errors_are_unavailable(status: int) -> None:
    with pytest.raises(NocoDBUnavailable) as info:
        download(lambda request: httpx.Response(status, headers={"Retry-After": "30"}), {"path": PATH})
    assert info.value.status_code == status and info.value.retry_after == 30.0


def test_download_connection_error_is_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(NocoDBUnavailable):
        download(handler, {"path": PATH})
