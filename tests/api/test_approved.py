from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.assembly import Runtime
from app.carousel.store import ApprovalStore, NewApproval


def _approve(store: ApprovalStore, row_id: int, politician: str) -> None:
    key = f"tbl:{row_id}:{politician}"
    store.add(NewApproval(key, "tbl", row_id, politician, [{"path": f"download/{row_id}.jpg"}]))


ROW_IDS = itertools.count(90_001)


@pytest.fixture
def approved(client: TestClient) -> Iterator[ApprovalStore]:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    store = runtime.carousel.store
    for i in range(1, 8):
        _approve(store, next(ROW_IDS), "obama" if i % 2 else "biden")
    yield store
    with store.db.tx() as db:
        db.exec_driver_sql("UPDATE approvals SET removed_at = 1 WHERE row_id > 90000")


@pytest.mark.usefixtures("approved")
def test_newest_first_with_profiles_and_urls(client: TestClient) -> None:
    body = client.get("/approved").json()
    items = body["items"]
    assert len(items) == 7 and body["next_cursor"] is None
    assert [i["id"] for i in items] == sorted((i["id"] for i in items), reverse=True)
    first = items[0]
    assert set(first) == {"id", "politician", "image_url", "thumbnail_url", "approved_at"}
    assert set(first["politician"]) == {"slug", "name", "role", "country", "description"}
    assert first["politician"]["name"] == "Barack Obama"
    assert first["image_url"] == f"/approved/{first['id']}/image"
    assert first["thumbnail_url"] == f"/approved/{first['id']}/thumbnail"


@pytest.mark.usefixtures("approved")
def test_filter_and_cursor_pagination(client: TestClient) -> None:
    seen: list[int] = []
    cursor = None
    while True:
        params = {"politician": "obama", "limit": 3} | ({"cursor": cursor} if cursor else {})
        body = client.get("/approved", params=params).json()
        seen += [i["id"] for i in body["items"]]
        assert all(i["politician"]["slug"] == "obama" for i in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 4 == len(set(seen))


def test_conditional_request_answers_304_until_something_changes(
    client: TestClient, approved: ApprovalStore
) -> None:
    first = client.get("/approved")
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "no-cache" and "last-modified" in first.headers
    again = client.get("/approved", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    _approve(approved, next(ROW_IDS), "obama")
    changed = client.get("/approved", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    other_query = client.get("/approved", params={"politician": "obama"}, headers={"If-None-Match": etag})
    assert other_query.status_code == 200


def test_bad_parameters_are_422(client: TestClient) -> None:
    for params in ({"limit": 0}, {"limit": 101}, {"cursor": -1}, {"politician": "x" * 201}):
        response = client.get("/approved", params=params)
        assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"
    # A politician may be named as the form names it (issue 25); a name nobody has is a 404.
    response = client.get("/approved", params={"politician": "../etc"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_politician"


def test_unknown_image_is_404(client: TestClient) -> None:
    response = client.get("/approved/999999/image")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert client.get("/approved/1/poster").status_code == 422


def test_page_and_its_security_headers(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/static/carousel.js" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert (
        client.get("/static/carousel.js")
        .headers["content-type"]
        .startswith(("text/javascript", "application/javascript"))
    )
    assert client.get("/healthz").headers["x-content-type-options"] == "nosniff"
    assert client.get("/site").json() == {"form_url": None}
