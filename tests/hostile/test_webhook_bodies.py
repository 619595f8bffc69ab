"""Hostile bodies on POST /webhooks/nocodb: each gets a clear answer, quickly, and never a 500."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.utils.hostile import MIB, assert_error

URL = "/webhooks/nocodb"
SECRET = {"X-Facegate-Secret": "test-webhook-secret"}
JSON = SECRET | {"Content-Type": "application/json"}
INSERT = "records.after.insert"
# Row Ids of this file, far from those of the other webhook tests (the session's store is shared).
_ids = itertools.count(70_000_000)


def _rows(n: int) -> list[dict[str, Any]]:
    rows = []
    for _ in range(n):
        row_id = next(_ids)
        rows.append(
            {
                "Id": row_id,
                "CreatedAt": "2026-01-01 00:00:00+00:00",
                "Politician": "obama",
                "Image": [{"id": f"att{row_id}", "path": f"download/{row_id}/a.jpg"}],
            }
        )
    return rows


def _event(rows: list[dict[str, Any]] | None = None, **data: Any) -> dict[str, Any]:
    return {"type": INSERT, "data": {"table_id": "tbl", "rows": _rows(1) if rows is None else rows, **data}}


def _post(client: TestClient, body: bytes) -> httpx.Response:
    response: httpx.Response = client.post(URL, content=body, headers=JSON)
    return response


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"{", id="truncated"),
        pytest.param(b'{"type": "records.after.insert", "data": {}}}', id="trailing-garbage"),
        pytest.param(b"null", id="null"),
        pytest.param(b"42", id="number"),
        pytest.param(b'"records.after.insert"', id="string"),
        pytest.param(b"[{}]", id="array"),
        pytest.param(b"{}", id="no-type"),
        pytest.param(b'{"type": null}', id="null-type"),
        pytest.param(b'{"type": ["records.after.insert"]}', id="list-type"),
        pytest.param(b'{"type": {"a": 1}}', id="object-type"),
        pytest.param(b'{"type": true}', id="bool-type"),
        pytest.param(b'{"type": "records.after.insert", "data": null}', id="null-data"),
        pytest.param(b'{"type": "records.after.insert", "data": "rows"}', id="string-data"),
        pytest.param(b'{"type": "records.after.insert", "data": [1, 2]}', id="list-data"),
        pytest.param(b'{"type": "records.after.insert", "data": {"table_id": "t"}}', id="no-rows"),
        pytest.param(
            b'{"type": "records.after.insert", "data": {"table_id": "t", "rows": {"Id": 1}}}',
            id="object-rows",
        ),
        pytest.param(
            b'{"type": "records.after.insert", "data": {"table_id": 5, "rows": []}}', id="int-table"
        ),
        pytest.param(
            b'{"type": "records.after.insert", "data": {"table_id": "", "rows": []}}', id="empty-table"
        ),
        pytest.param(
            b'{"type": "records.after.insert", "data": {"table_id": "t", "rows": [1]}}', id="int-row"
        ),
        pytest.param(
            b'{"type": "records.after.insert", "data": {"table_id": "t", "rows": [[]]}}', id="list-row"
        ),
        pytest.param(b'{"type": "records.after.insert", "data": {"table_id": "t", "rows": [NaN]}}', id="nan"),
        pytest.param(b'{"type": "\xff\xfe\xfd"}', id="non-utf8-type"),
        pytest.param(b'\xff\xfe{\x00"\x00t\x00', id="utf16-bom"),
        pytest.param(
            b'{"type": "records.after.insert", "data": {"table_id": "t\xc3", "rows": []}}', id="cut-utf8"
        ),
        pytest.param(
            b'{"type": "records.after.insert", "data": {"table_id": "\xed\xa0\x80", "rows": []}}',
            id="surrogate",
        ),
        pytest.param(b'{"type": "' + b"x" * 300 + b'"}', id="long-type"),
        pytest.param(b'{"type": "' + b"x" * (5 * MIB) + b'"}', id="5MB-type"),
        pytest.param(
            b'{"type": "records.after.insert", "data": {"table_id": "'
            + b"t" * (5 * MIB)
            + b'", "rows": []}}',
            id="5MB-table-id",
        ),
    ],
)
def test_malformed_bodies_are_422(client: TestClient, body: bytes) -> None:
    assert_error(_post(client, body), 422, "invalid_request")


def test_validation_errors_do_not_echo_the_body(client: TestClient) -> None:
    secret = "uploader-secret-" + "y" * 1000
    body = json.dumps({"type": INSERT, "data": {"table_id": ["t"], "rows": [], "note": secret}}).encode()
    error = assert_error(_post(client, body), 422, "invalid_request")
    assert secret not in json.dumps(error) and isinstance(error["detail"], list)


@pytest.mark.parametrize(
    "row",
    [
        {"Id": "1"},
        {"Id": 1.5},
        {"Id": True},
        {"Id": 0},
        {"Id": -1},
        {"Id": 2**63},
        {"Id": 10**4000},
        {"Id": None},
        {"Id": [1]},
        {"id": {"$gt": 0}},
        {},
    ],
    ids=repr,
)
def test_rows_with_an_invalid_id_are_ignored(client: TestClient, row: dict[str, Any]) -> None:
    response = client.post(URL, json=_event([row]), headers=SECRET)
    assert response.status_code == 202, response.text
    assert response.json() == {"event": INSERT, "received": 1, "queued": 0, "ignored": 1}


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"1e-400", b"1.0", b"1" + b"0" * 4000])
def test_numbers_out_of_range_as_ids_are_ignored(client: TestClient, number: bytes) -> None:
    body = b'{"type": "records.after.insert", "data": {"table_id": "t", "rows": [{"Id": ' + number + b"}]}}"
    response = _post(client, body)
    assert response.status_code == 202, response.text
    assert response.json() == {"event": INSERT, "received": 1, "queued": 0, "ignored": 1}


def test_an_integer_too_long_for_the_json_parser_is_422(client: TestClient) -> None:
    body = (
        b'{"type": "records.after.insert", "data": {"table_id": "t", "rows": [{"Id": 1'
        + b"0" * 5000
        + b"}]}}"
    )
    error = assert_error(_post(client, body), 422, "invalid_request")
    assert "out of range" in error["detail"][0]["msg"]


@pytest.mark.parametrize(
    "cells",
    [
        {"Politician": ["obama"], "Image": "not a list", "CreatedAt": 5},
        {"Politician": {"slug": "obama"}, "Image": [1, "x", None, [], {"path": 5}]},
        {"Politician": 3.5, "Image": {"path": "download/a.jpg"}, "CreatedAt": None},
        {"Politician": "x" * MIB, "Image": [{"id": "i", "path": "p" * MIB, "url": "u" * MIB}]},
        {"Politician": "\u202eamabo\x00\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace")},
        {"Extra": {"deep": [{"a": 1}] * 100}, "Email": "x@example.org", "\x00": "\x00"},
    ],
    ids=["wrong-cell-types", "junk-attachments", "object-image", "huge-strings", "unicode", "extra-cells"],
)
def test_rows_with_wrong_cells_are_queued_for_a_verdict(client: TestClient, cells: dict[str, Any]) -> None:
    (row,) = _rows(1)
    event = _event([row | cells])
    event["extra_top_level"] = {"x": [1, 2, 3]}
    event["data"]["extra_in_data"] = "y"
    response = client.post(URL, json=event, headers=SECRET)
    assert response.status_code == 202, response.text
    assert response.json() == {"event": INSERT, "received": 1, "queued": 1, "ignored": 0}


@pytest.mark.parametrize(
    "event_type", ["records.before.update", "records.before.delete", "", "x" * 200, "💥", "\x00"]
)
def test_other_event_types_are_acknowledged_and_ignored(client: TestClient, event_type: str) -> None:
    body = {"type": event_type, "data": {"rows": "anything", "nested": [[[{}]]]}, "id": 5}
    response = client.post(URL, json=body, headers=SECRET)
    assert response.status_code == 200, response.text
    assert response.json() == {"event": event_type, "received": 0, "queued": 0, "ignored": 0}


def test_a_malformed_delete_event_is_refused(client: TestClient) -> None:
    body = {"type": "records.after.delete", "data": {"rows": "anything"}, "id": 5}
    assert_error(client.post(URL, json=body, headers=SECRET), 422, "invalid_request")


@pytest.mark.parametrize("depth", [50, 10_000, 100_000])
@pytest.mark.parametrize("where", ["envelope", "row"])
def test_deeply_nested_json_is_refused_or_ignored_quickly(client: TestClient, depth: int, where: str) -> None:
    nested = _nested(depth)
    if where == "envelope":
        body = '{"type": "records.after.insert", "data": {"table_id": "t", "rows": []}, "x": ' + nested + "}"
    else:
        body = (
            '{"type": "records.after.insert", "data": {"table_id": "t", "rows": [{"Id": 1, "x": '
            + nested
            + "}]}}"
        )
    started = time.monotonic()
    response = _post(client, body.encode())
    assert time.monotonic() - started < 5
    if depth <= 50:
        assert response.status_code == 202, response.text
    else:
        assert_error(response, 422, "invalid_request")


def test_ten_thousand_rows_are_accepted(client: TestClient) -> None:
    started = time.monotonic()
    response = client.post(URL, json=_event(_rows(10_000)), headers=SECRET)
    assert response.status_code == 202, response.text
    assert response.json() == {"event": INSERT, "received": 10_000, "queued": 10_000, "ignored": 0}
    assert time.monotonic() - started < 20


def test_a_50mb_body_is_413(client: TestClient) -> None:
    body = b'{"type": "records.after.insert", "x": "' + b"x" * (50 * MIB) + b'"}'
    started = time.monotonic()
    assert_error(_post(client, body), 413, "payload_too_large")
    assert time.monotonic() - started < 5


class _Body:
    """A 50 MB request body in 1 MiB chunks that counts how many the server pulled."""

    CHUNKS = 50

    def __init__(self) -> None:
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"type": "records.after.insert", "x": "'
        for _ in range(self.CHUNKS):
            self.pulled += 1
            yield b"x" * MIB
        yield b'"}'


def _stream(client: TestClient, body: _Body, headers: dict[str, str]) -> tuple[httpx.Response, float]:
    """POST ``body`` through httpx's ASGI transport, which hands the app one chunk per ``receive``.

    (The TestClient reads a streamed body whole before the app sees it.) It runs on the app's own
    event loop, the TestClient's portal.
    """

    async def main() -> tuple[httpx.Response, float]:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            started = time.monotonic()
            response = await http.post(URL, content=body, headers=JSON | headers)
            return response, time.monotonic() - started

    assert client.portal is not None
    return client.portal.call(main)


def test_a_50mb_streamed_body_without_content_length_is_refused_while_streaming(client: TestClient) -> None:
    limit = client.app.state.settings.max_upload_bytes  # type: ignore[attr-defined]
    body = _Body()
    response, elapsed = _stream(client, body, {})
    assert_error(response, 413, "payload_too_large")
    # The limit (upload limit + 1 MiB of overhead) is reached after about 21 of the 50 chunks.
    assert body.pulled <= limit // MIB + 2 < body.CHUNKS
    assert elapsed < 5


def test_a_50mb_declared_body_is_refused_before_reading_it(client: TestClient) -> None:
    body = _Body()
    response, elapsed = _stream(client, body, {"Content-Length": str(50 * MIB + 42)})
    assert_error(response, 413, "payload_too_large")
    assert body.pulled == 0
    assert elapsed < 2


def test_a_lying_content_length_does_not_lift_the_limit(client: TestClient) -> None:
    body = _Body()
    response, _ = _stream(client, body, {"Content-Length": "100"})
    assert_error(response, 413, "payload_too_large")
    assert body.pulled < body.CHUNKS


def test_the_secret_is_checked_before_the_body_is_read(client: TestClient) -> None:
    body = _Body()
    response, _ = _stream(client, body, {"X-Facegate-Secret": "wrong"})
    assert_error(response, 401, "unauthorized")
    assert body.pulled == 0


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "", "\x7f"]
)
def test_other_content_types_carrying_json_are_still_parsed_as_json(
    client: TestClient, content_type: str
) -> None:
    # NocoDB always sends JSON; the route reads the raw body whatever the header says.
    response = client.post(
        URL, content=json.dumps(_event()).encode(), headers=SECRET | {"Content-Type": content_type}
    )
    assert response.status_code == 202, response.text
