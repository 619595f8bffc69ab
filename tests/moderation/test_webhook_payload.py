from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from app.db import MAX_ID
from app.moderation.rows import ATTACHMENT_KEYS, UploadRow, parse_row, row_key
from app.moderation.webhook import INSERT_EVENT, EventEnvelope, RowsEvent, jobs_from_event
from harness.loop import FIELDS

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "nocodb_webhook_insert.json"
TABLE = "m3nx10p8o6cyd9w"


def payload() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(FIXTURE.read_text())
    return body


def event(body: dict[str, Any]) -> RowsEvent:
    return RowsEvent.model_validate_json(json.dumps(body))


def test_real_insert_event_parses() -> None:
    raw = FIXTURE.read_bytes()
    assert EventEnvelope.model_validate_json(raw).type == INSERT_EVENT
    parsed = RowsEvent.model_validate_json(raw)
    assert (parsed.id, parsed.version) == ("6711e056-4b31-4309-89bf-4b1e3bc4962e", "v3")
    assert (parsed.data.table_id, parsed.data.table_name) == (TABLE, "Uploads")
    assert parsed.data.rows == payload()["data"]["rows"]
    assert parsed.model_extra == {"base_id": "px5z924nqbwce3p"}


def test_jobs_from_the_real_event() -> None:
    parsed = event(payload())
    row = parse_row(payload()["data"]["rows"][0], FIELDS)
    for table_id in (None, TABLE):
        jobs, ignored = jobs_from_event(parsed, table_id=table_id, fields=FIELDS)
        assert ignored == 0
        [job] = jobs
        assert (job.row_key, job.table_id, job.row_id) == (row_key(TABLE, row), TABLE, 2)
        # The note is read from NocoDB when the job runs, never stored with it.
        assert UploadRow.from_json(job.row) == dataclasses.replace(row, note=None)
        assert "title" not in json.dumps(job.row)


def test_extra_fields_are_allowed_everywhere() -> None:
    body = payload() | {"future": {"x": 1}}
    body["data"] |= {"previous_rows": [], "extra": "yes"}
    body["data"]["rows"][0]["NewColumn"] = [1, 2]
    parsed = event(body)
    assert parsed.model_extra == {"base_id": "px5z924nqbwce3p", "future": {"x": 1}}
    assert parsed.data.model_extra == {"previous_rows": [], "extra": "yes"}
    assert len(jobs_from_event(parsed, table_id=TABLE, fields=FIELDS)[0]) == 1


def test_other_event_types_pass_the_envelope_only() -> None:
    body = payload() | {"type": "records.before.insert"}
    assert EventEnvelope.model_validate_json(json.dumps(body)).type == "records.before.insert"
    with pytest.raises(ValidationError):
        event(body)


def set_path(body: dict[str, Any], path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    target: Any = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("type",), 1),
        (("type",), None),
        (("id",), 42),
        (("data",), None),
        (("data",), []),
        (("data", "table_id"), ""),
        (("data", "table_id"), 7),
        (("data", "table_id"), None),
        (("data", "table_name"), 3),
        (("data", "rows"), None),
        (("data", "rows"), {"Id": 1}),
        (("data", "rows", 0), [1, 2]),
        (("data", "rows", 0), "row"),
    ],
)
def test_wrong_types_are_rejected(path: tuple[str | int, ...], value: object) -> None:
    with pytest.raises(ValidationError):
        event(set_path(payload(), path, value))


def test_envelope_needs_a_short_string_type() -> None:
    bodies: list[object] = [{}, {"type": 1}, {"type": "x" * 201}, [], "records.after.insert"]
    for body in bodies:
        with pytest.raises(ValidationError):
            EventEnvelope.model_validate_json(json.dumps(body))
    with pytest.raises(ValidationError):
        EventEnvelope.model_validate_json(b"{not json")


def test_rows_of_another_table_are_ignored() -> None:
    body = payload()
    body["data"]["rows"].append(body["data"]["rows"][0] | {"Id": 3})
    assert jobs_from_event(event(body), table_id="anothertable", fields=FIELDS) == ([], 2)


def test_rows_without_a_valid_id_are_counted_as_ignored() -> None:
    body = payload()
    good = body["data"]["rows"][0]
    body["data"]["rows"] = [good, {"Id": 0}, {"Id": "3"}, {}, good | {"Id": True}, good | {"Id": 5}]
    jobs, ignored = jobs_from_event(event(body), table_id=TABLE, fields=FIELDS)
    assert [job.row_id for job in jobs] == [2, 5]
    assert ignored == 4


def test_an_event_without_rows_has_no_jobs() -> None:
    body = set_path(payload(), ("data", "rows"), [])
    assert jobs_from_event(event(body), table_id=TABLE, fields=FIELDS) == ([], 0)


# Properties.

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
cell_names = st.sampled_from(["Id", "id", "CreatedAt", "createdAt", "Politician", "Image", "Status"])
attachments = st.lists(
    st.dictionaries(st.sampled_from([*ATTACHMENT_KEYS, "title", "thumbnails"]), json_values, max_size=6)
    | json_values,
    max_size=3,
)
raw_rows = st.dictionaries(cell_names | st.text(max_size=8), json_values, max_size=8) | st.fixed_dictionaries(
    {"Id": st.integers(-2, 10**20) | json_values, "Image": attachments},
    optional={"CreatedAt": st.text(max_size=30) | json_values, "Politician": json_values},
)
# Mostly well-formed insert events (so that jobs_from_event runs), with any JSON in the loose places.
insert_events = st.fixed_dictionaries(
    {
        "type": st.just(INSERT_EVENT),
        "data": st.fixed_dictionaries(
            {"table_id": st.sampled_from([TABLE, "other", ""]), "rows": st.lists(raw_rows, max_size=4)},
            optional={"table_name": st.none() | st.text(max_size=10) | json_values},
        ),
    },
    optional={"id": st.text(max_size=10) | json_values, "version": json_values, "base_id": json_values},
)


@settings(max_examples=200, deadline=None)
@given(value=json_values | insert_events)
def test_any_json_is_parsed_or_refused_with_a_validation_error(value: object) -> None:
    text = json.dumps(value)
    try:
        envelope = EventEnvelope.model_validate_json(text)
    except ValidationError:
        envelope = None
    try:
        parsed = RowsEvent.model_validate_json(text)
    except ValidationError:
        return
    assert envelope is not None and envelope.type == INSERT_EVENT
    for table_id in (None, TABLE):
        jobs, ignored = jobs_from_event(parsed, table_id=table_id, fields=FIELDS)
        assert len(jobs) + ignored == len(parsed.data.rows)


@settings(max_examples=200, deadline=None)
@given(raw=raw_rows)
def test_parse_row_returns_a_row_or_raises_value_error(raw: dict[str, Any]) -> None:
    try:
        row = parse_row(raw, FIELDS)
    except ValueError:
        row_id = raw.get("Id", raw.get("id"))
        assert isinstance(row_id, bool) or not isinstance(row_id, int) or not 1 <= row_id <= MAX_ID
        return
    assert type(row.row_id) is int and row.row_id >= 1
    assert row.politician is None or (row.politician == row.politician.strip() and row.politician)
    assert all(set(a) <= set(ATTACHMENT_KEYS) for a in row.attachments)
    assert row_key(TABLE, row) == row_key(TABLE, UploadRow.from_json(json.loads(json.dumps(row.to_json()))))
