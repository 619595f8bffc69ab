from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from app.config import FieldNames
from app.moderation.holds import Held
from app.moderation.rows import ATTACHMENT_KEYS, UploadRow, new_job, parse_row, row_key, same_upload
from app.outcomes import HoldReason
from harness.loop import FIELDS

CONSENT = FieldNames(image="Image", politician="Politician", status="Status", consent="Consent")

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "nocodb_webhook_insert.json"
TABLE = "m3nx10p8o6cyd9w"


def webhook_row() -> dict[str, Any]:
    """The row of the real NocoDB v3 insert webhook."""
    row: dict[str, Any] = json.loads(FIXTURE.read_text())["data"]["rows"][0]
    return row


def records_api_row() -> dict[str, Any]:
    """The same row as the records API lists it: ISO time, a freshly signed path, other cells."""
    row = copy.deepcopy(webhook_row())
    row["CreatedAt"] = "2026-11-22T03:02:51.000Z"
    row["UpdatedAt"] = "2026-11-22T03:05:00.000Z"
    row["Image"][0]["signedPath"] = "dltemp/OTHERSIGNATURE/1795399999999/2026/11/22/x/face_9HfWW.jpg"
    del row["Image"][0]["thumbnails"]
    return row


def test_parse_row_keeps_only_what_moderation_needs() -> None:
    row = parse_row(webhook_row(), FIELDS)
    assert row == UploadRow(
        row_id=2,
        created_at="2026-11-22 03:02:51+00:00",
        politician="biden",
        attachments=[
            {
                "id": "aty43gvi9vjv9ety",
                "path": "download/2026/11/22/60e65c63f9091a580cbaec91b037645612f9eb7e/face_9HfWW.jpg",
                "signedPath": "dltemp/8lmdpiucV7v9dIuk/1795324200000/2026/11/22/"
                "60e65c63f9091a580cbaec91b037645612f9eb7e/face_9HfWW.jpg",
                "mimetype": "image/jpeg",
                "size": 645,
                "width": 32,
                "height": 32,
            }
        ],
        note="",  # an empty note cell: the table has the column
    )
    assert "title" not in row.attachments[0] and "thumbnails" not in row.attachments[0]
    assert set(row.to_json()) == {"Id", "CreatedAt", "politician", "attachments", "status"}


def test_unknown_attachment_keys_and_nested_values_dropped() -> None:
    cell = [{"path": "download/a.jpg", "title": "me at home.jpg", "uploader": "x", "size": {"bytes": 3}}]
    row = parse_row({"Id": 1, "Image": cell, "Email": "someone@example.com"}, FIELDS)
    assert row.attachments == [{"path": "download/a.jpg"}]
    assert set(row.attachments[0]) <= set(ATTACHMENT_KEYS)


@pytest.mark.parametrize(
    "raw",
    [{}, {"Id": None}, {"Id": 0}, {"Id": -3}, {"Id": True}, {"Id": False}, {"Id": "4"}, {"Id": 4.0}],
)
def test_rows_without_a_positive_integer_id_are_refused(raw: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="positive integer Id"):
        parse_row(raw, FIELDS)


def test_lowercase_id_and_created_at_variants_accepted() -> None:
    assert parse_row({"id": 5}, FIELDS).row_id == 5
    assert parse_row({"Id": 5, "created_at": "2026-01-01"}, FIELDS).created_at == "2026-01-01"
    assert parse_row({"Id": 5, "CreatedAt": None, "createdAt": "x"}, FIELDS).created_at == "x"
    assert parse_row({"Id": 5, "CreatedAt": 1234}, FIELDS).created_at is None


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (None, []),
        ("", []),
        ([], []),
        ([{}], [{}]),
        ('[{"path": "download/b.jpg"}]', [{"path": "download/b.jpg"}]),  # a version that sends JSON text
        # Items forged into a list are dropped: a list is the Attachment column's own shape.
        ([None, 1, "download/a.jpg", ["x"], {"path": "download/b.jpg"}], [{"path": "download/b.jpg"}]),
    ],
)
def test_image_cells(cell: object, expected: list[dict[str, Any]]) -> None:
    row = parse_row({"Id": 1, "Image": cell}, FIELDS)
    assert row.attachments == expected and row.malformed == ()
    assert parse_row({"Id": 1}, FIELDS).attachments == []


@pytest.mark.parametrize(
    "cell",
    [
        "download/a.jpg",
        "{not json",
        {"path": "download/a.jpg"},
        7,
        '{"path": "download/a.jpg"}',
    ],
)
def test_an_image_cell_no_attachment_column_gives_is_malformed_not_empty(cell: object) -> None:
    # Read as "no image" it would be a rejection: a column whose type was changed would delete every row.
    row = parse_row({"Id": 1, "Image": cell}, FIELDS)
    assert row.malformed == ("Image",) and row.attachments == []


@pytest.mark.parametrize(
    ("cell", "ticked"),
    [
        *[(True, True), (1, True), ("1", True), (" TRUE ", True)],
        *[(False, False), (0, False), ("0", False), ("false", False), ("", False), (None, False)],
    ],
)
def test_consent_cells(cell: object, ticked: bool) -> None:
    row = parse_row({"Id": 1, "Image": None, "Consent": cell}, CONSENT)
    assert (row.consent, row.malformed) == (ticked, ())


@pytest.mark.parametrize("cell", ["Yes", "no", 2, 0.5, ["x"], {"checked": True}])
def test_a_consent_cell_no_checkbox_gives_is_malformed(cell: object) -> None:
    # A Checkbox changed into a select ("Yes"/"No") must not read as "not ticked": rows would be deleted.
    row = parse_row({"Id": 1, "Image": None, "Consent": cell}, CONSENT)
    assert row.malformed == ("Consent",)
    assert parse_row({"Id": 1, "Image": None, "Consent": cell}, FIELDS).malformed == ()  # consent not asked


def test_a_row_with_a_malformed_column_is_held_not_compared() -> None:
    row = {"Id": 1, "Politician": "obama", "Image": "download/a.jpg"}
    with pytest.raises(Held) as held:
        same_upload(row, "any", table_id="t", fields=FIELDS)
    assert held.value.reason is HoldReason.COLUMN_TYPE and "'Image'" in held.value.detail


@pytest.mark.parametrize(
    ("cell", "expected"),
    [(" obama ", "obama"), ("   ", None), ("", None), (["obama"], "<list>"), (7, "<int>"), (None, None)],
)
def test_politician_cell(cell: object, expected: str | None) -> None:
    # A cell that is not text names no known politician: the row is rejected, never identified.
    assert parse_row({"Id": 1, "Politician": cell}, FIELDS).politician == expected


def test_configured_field_names_are_used() -> None:
    fields = FieldNames(image="Photo", politician="Who", status="State")
    row = parse_row({"Id": 1, "Photo": [{"id": "a"}], "Who": "biden", "Image": [{"id": "b"}]}, fields)
    assert (row.politician, row.attachments) == ("biden", [{"id": "a"}])


def key(raw: dict[str, Any], table: str = TABLE) -> str:
    return row_key(table, parse_row(raw, FIELDS))


def test_webhook_and_records_api_give_the_same_key() -> None:
    webhook = key(webhook_row())
    assert webhook == key(records_api_row())
    assert webhook.startswith(f"{TABLE}:2:")


@pytest.mark.parametrize(
    "created",
    [
        "2026-11-22 03:02:51+00:00",
        "2026-11-22T03:02:51.000Z",
        "2026-11-22T03:02:51Z",
        "2026-11-22 03:02:51",
        "2026-11-22T04:02:51+01:00",
        " 2026-11-22 03:02:51.000+00:00 ",
    ],
)
def test_time_formats_of_one_instant_give_the_same_key(created: str) -> None:
    base = {"Id": 2, "Image": [{"id": "a1"}]}
    assert key(base | {"CreatedAt": created}) == key(base | {"CreatedAt": "2026-11-22 03:02:51+00:00"})


def test_a_reused_id_gives_another_key() -> None:
    original = webhook_row()
    later = copy.deepcopy(original)
    later["CreatedAt"] = "2026-11-22 03:02:52+00:00"
    other_file = copy.deepcopy(original)
    other_file["Image"][0]["id"] = "atyANOTHERUPLOAD"
    keys = {key(original), key(later), key(other_file), key(original, table="another")}
    assert len(keys) == 4


def test_attachment_order_and_politician_do_not_change_the_key() -> None:
    a, b = {"id": "a1", "path": "download/a.jpg"}, {"path": "download/b.jpg"}
    first = key({"Id": 1, "CreatedAt": "2026-01-01 00:00:00+00:00", "Image": [a, b], "Politician": "obama"})
    assert first == key({"Id": 1, "CreatedAt": "2026-01-01T00:00:00Z", "Image": [b, a], "Politician": "x"})


def test_attachment_identity_falls_back_to_path_then_url() -> None:
    assert key({"Id": 1, "Image": [{"path": "download/a.jpg"}]}) != key({"Id": 1, "Image": [{"path": "b"}]})
    assert key({"Id": 1, "Image": [{"url": "https://s3/a"}]}) != key(
        {"Id": 1, "Image": [{"url": "https://s3/b"}]}
    )
    assert key({"Id": 1, "Image": [{"url": "https://s3/a"}]}) != key({"Id": 1})


def test_json_round_trip_through_the_store_format() -> None:
    row = parse_row(webhook_row(), FIELDS)
    stored = json.loads(json.dumps(row.to_json()))
    # The note is read from NocoDB when the job runs, never stored with it.
    assert UploadRow.from_json(stored) == dataclasses.replace(row, note=None)
    assert UploadRow.from_json(stored).identity() == row.identity()
    empty = UploadRow(row_id=9, created_at=None, politician=None, attachments=[])
    assert UploadRow.from_json(json.loads(json.dumps(empty.to_json()))) == empty


def test_new_job_carries_key_ids_and_stored_row() -> None:
    row = parse_row(webhook_row(), FIELDS)
    job = new_job(TABLE, row)
    assert (job.row_key, job.table_id, job.row_id, job.row) == (row_key(TABLE, row), TABLE, 2, row.to_json())
