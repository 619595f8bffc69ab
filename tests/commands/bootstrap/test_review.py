"""The note column, the review view and the forms' success message, against the real NocoDB (issue 24):
facegate's own table gets all three; an attached table gets the note, and the view and the messages
only when asked (``--review-view``, ``--form-messages``)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.commands.bootstrap import Changes, attach, run_bootstrap
from app.commands.bootstrap.forms import after_submit_message
from app.commands.bootstrap.nocodb import BootstrapResult
from app.commands.bootstrap.review import REVIEW_VIEW_TITLE
from app.config import FieldNames
from app.settings_file import read_settings_file
from harness.images import ROOT
from harness.loop import ADMIN_EMAIL, ADMIN_PASSWORD, bootstrap_base, nocodb_api
from harness.nocodb import LocalNocoDB

CAROUSEL = "https://campaign.example.org/"
GRID_VIEW_TYPE = 3
# One row per Status, and two in review, in the order they are inserted.
STATUSES = ("review", "approved", None, "review", "rejected")
CAMPAIGN_MESSAGE = "Thanks for taking part! We will be in touch."


def _ok(response: httpx.Response) -> Any:
    assert response.is_success, f"{response.request.method} {response.request.url}: {response.text[:300]}"
    return response.json()


def _get(nocodb: LocalNocoDB, token: str, path: str, **params: Any) -> Any:
    with nocodb_api(nocodb.url, token) as api:
        return _ok(api.get(path, params=params))


def _columns(nocodb: LocalNocoDB, token: str, table_id: str) -> dict[str, dict[str, Any]]:
    table = _get(nocodb, token, f"/api/v2/meta/tables/{table_id}")
    return {column["title"]: column for column in table["columns"]}


def _review_views(nocodb: LocalNocoDB, token: str, table_id: str) -> list[dict[str, Any]]:
    views = _get(nocodb, token, f"/api/v2/meta/tables/{table_id}/views")["list"]
    return [v for v in views if v["type"] == GRID_VIEW_TYPE and v["title"] == REVIEW_VIEW_TITLE]


def _insert(nocodb: LocalNocoDB, token: str, table_id: str, rows: list[dict[str, Any]]) -> list[int]:
    """The rows, one request each, in order; their Ids."""
    ids = []
    with nocodb_api(nocodb.url, token) as api:
        for cells in rows:
            ids.append(_ok(api.post(f"/api/v2/tables/{table_id}/records", json=cells))["Id"])
    return ids


def _in_view(nocodb: LocalNocoDB, token: str, table_id: str, view_id: str) -> list[dict[str, Any]]:
    """The rows NocoDB lists through the view, in its order."""
    body = _get(nocodb, token, f"/api/v2/tables/{table_id}/records", viewId=view_id, limit=100)
    rows: list[dict[str, Any]] = body["list"]
    return rows


def _assert_review_view(nocodb: LocalNocoDB, token: str, table_id: str, *, status: str, image: str) -> str:
    """One review view, filtered on Status = review and sorted oldest first, the note beside the
    picture; returns its id."""
    [view] = _review_views(nocodb, token, table_id)
    columns = _columns(nocodb, token, table_id)
    [filter_] = _get(nocodb, token, f"/api/v2/meta/views/{view['id']}/filters")["list"]
    assert (filter_["fk_column_id"], filter_["comparison_op"], filter_["value"]) == (
        columns[status]["id"],
        "eq",
        "review",
    )
    [sort] = _get(nocodb, token, f"/api/v2/meta/views/{view['id']}/sorts")["list"]
    assert (sort["fk_column_id"], sort["direction"]) == (columns["CreatedAt"]["id"], "asc")
    view_columns = _get(nocodb, token, f"/api/v2/meta/views/{view['id']}/columns")["list"]
    by_id = {column["id"]: title for title, column in columns.items()}
    shown = [by_id[c["fk_column_id"]] for c in sorted(view_columns, key=lambda c: c["order"]) if c["show"]]
    assert shown.index("Facegate") == shown.index(image) + 1, shown
    assert "Facegate stamp" not in shown
    return str(view["id"])


# ------------------------------------------------------------------------------------ own table


@pytest.fixture(scope="module")
def own(nocodb: LocalNocoDB) -> BootstrapResult:
    return bootstrap_base(
        nocodb.url, "http://127.0.0.1:9", base_title="facegate-review", carousel_url=CAROUSEL
    )


def test_the_note_column_is_long_text_hidden_in_the_form(nocodb: LocalNocoDB, own: BootstrapResult) -> None:
    note = _columns(nocodb, own.api_token, own.table_id)["Facegate"]
    assert (note["uidt"], note["id"]) == ("LongText", own.note_column_id)
    form = _get(nocodb, own.api_token, f"/api/v2/meta/forms/{own.form_view_id}")
    [form_column] = [fc for fc in form["columns"] if fc["fk_column_id"] == note["id"]]
    assert not form_column["show"]
    # A hidden field is dropped from a public submission: no uploader writes facegate's note.
    row = _ok(
        httpx.post(
            f"{nocodb.url}/api/v2/public/shared-view/{own.form_uuid}/rows",
            data={"data": '{"Politician": "obama", "Facegate": "approved by a moderator"}'},
            timeout=30,
        )
    )
    stored = _get(nocodb, own.api_token, f"/api/v2/tables/{own.table_id}/records/{row['Id']}")
    assert stored["Facegate"] is None


def test_the_review_view_lists_exactly_the_rows_in_review_oldest_first(
    nocodb: LocalNocoDB, own: BootstrapResult
) -> None:
    view_id = _assert_review_view(nocodb, own.api_token, own.table_id, status="Status", image="Image")
    assert view_id == own.review_view_id
    rows = [{"Politician": "obama", "Status": status} for status in STATUSES]
    ids = _insert(nocodb, own.api_token, own.table_id, rows)
    everything = _get(nocodb, own.api_token, f"/api/v2/tables/{own.table_id}/records", limit=100)["list"]
    waiting = [row["Id"] for row in everything if row["Status"] == "review"]
    listed = _in_view(nocodb, own.api_token, own.table_id, view_id)
    # Inserted one after the other: the oldest first (the sort's column is checked above).
    assert [row["Id"] for row in listed] == waiting == [ids[0], ids[3]]


def test_the_form_says_what_happens_next(nocodb: LocalNocoDB, own: BootstrapResult) -> None:
    form = _get(nocodb, own.api_token, f"/api/v2/meta/forms/{own.form_view_id}")
    assert form["success_msg"] == after_submit_message(CAROUSEL)
    assert CAROUSEL in form["success_msg"] and "moderator" in form["success_msg"]
    assert form["redirect_url"] is None  # a redirect by row Id would show anyone's outcome
    # The public form's meta carries the message to the form page.
    shared = _get(nocodb, own.api_token, f"/api/v2/public/shared-view/{own.form_uuid}/meta")
    assert shared["view"]["success_msg"] == form["success_msg"]


def test_a_second_bootstrap_changes_nothing_and_a_damaged_view_is_fixed(
    nocodb: LocalNocoDB, own: BootstrapResult
) -> None:
    changes = Changes()
    again = bootstrap_base(
        nocodb.url, "http://127.0.0.1:9", base_title="facegate-review", carousel_url=CAROUSEL, changes=changes
    )
    assert again == own and changes.lines == []
    # A moderator's filter and sort replace facegate's: the next run puts them back, in the same view.
    columns = _columns(nocodb, own.api_token, own.table_id)
    with nocodb_api(nocodb.url, own.api_token) as api:
        view = f"/api/v2/meta/views/{own.review_view_id}"
        for old in _ok(api.get(f"{view}/filters"))["list"]:
            _ok(api.delete(f"/api/v2/meta/filters/{old['id']}"))
        for old in _ok(api.get(f"{view}/sorts"))["list"]:
            _ok(api.delete(f"/api/v2/meta/sorts/{old['id']}"))
        filter_ = {"fk_column_id": columns["Status"]["id"], "comparison_op": "eq", "value": "approved"}
        _ok(api.post(f"{view}/filters", json=filter_))
        _ok(api.post(f"{view}/sorts", json={"fk_column_id": columns["Id"]["id"], "direction": "desc"}))
    fixed = Changes()
    bootstrap_base(
        nocodb.url, "http://127.0.0.1:9", base_title="facegate-review", carousel_url=CAROUSEL, changes=fixed
    )
    assert [line.split(" ")[0] for line in fixed.lines] == ["set", "sorted"]
    assert (
        _assert_review_view(nocodb, own.api_token, own.table_id, status="Status", image="Image")
        == own.review_view_id
    )


def test_an_operators_message_is_kept_unless_form_messages(nocodb: LocalNocoDB, own: BootstrapResult) -> None:
    path = f"/api/v2/meta/forms/{own.form_view_id}"
    with nocodb_api(nocodb.url, own.api_token) as api:
        _ok(api.patch(path, json={"success_msg": CAMPAIGN_MESSAGE}))
    bootstrap_base(nocodb.url, "http://127.0.0.1:9", base_title="facegate-review", carousel_url=CAROUSEL)
    assert _get(nocodb, own.api_token, path)["success_msg"] == CAMPAIGN_MESSAGE
    bootstrap_base(
        nocodb.url,
        "http://127.0.0.1:9",
        base_title="facegate-review",
        carousel_url=CAROUSEL,
        form_messages=True,
    )
    assert _get(nocodb, own.api_token, path)["success_msg"] == after_submit_message(CAROUSEL)


def test_the_settings_file_names_the_note_column_and_facegates_public_address(
    nocodb: LocalNocoDB, tmp_path: Path
) -> None:
    env_file = tmp_path / ".env"
    arguments: dict[str, Any] = {
        "nocodb_url": nocodb.url,
        "email": ADMIN_EMAIL,
        "password": ADMIN_PASSWORD,
        "facegate_url": "http://127.0.0.1:8123",
        "env_file": env_file,
        "reference_dir": ROOT / "reference_faces",
        "base_title": "facegate-review-settings",
    }
    result = asyncio.run(run_bootstrap(**arguments))
    settings = read_settings_file(env_file)
    assert settings["FACEGATE_NOCODB_NOTE_FIELD"] == "Facegate"
    # By default facegate's address for browsers is the webhook's, and the carousel is at its root.
    assert settings["FACEGATE_PUBLIC_URL"] == "http://127.0.0.1:8123"
    form = _get(nocodb, result.api_token, f"/api/v2/meta/forms/{result.form_view_id}")
    assert form["success_msg"] == after_submit_message("http://127.0.0.1:8123/")
    # Given one, it is kept on a rerun that names another webhook address.
    asyncio.run(run_bootstrap(**arguments | {"public_url": "https://faces.example.org"}))
    asyncio.run(run_bootstrap(**arguments | {"facegate_url": "http://facegate:8000"}))
    assert read_settings_file(env_file)["FACEGATE_PUBLIC_URL"] == "https://faces.example.org"
    form = _get(nocodb, result.api_token, f"/api/v2/meta/forms/{result.form_view_id}")
    assert form["success_msg"] == after_submit_message("https://faces.example.org/")


# ------------------------------------------------------------------------------------ attached table


def _campaign(nocodb: LocalNocoDB, token: str, title: str, status: dict[str, Any]) -> tuple[str, str]:
    """A campaign's table (its own Status column ``status``) and form, whose message is the campaign's."""
    with nocodb_api(nocodb.url, token) as api:
        base_id = _ok(api.post("/api/v2/meta/bases", json={"title": title}))["id"]
        columns = [
            {"title": "Minister", "uidt": "SingleLineText"},
            {"title": "Picture", "uidt": "Attachment"},
            status,
        ]
        body = {"title": "Deepfakes", "columns": columns}
        table_id: str = _ok(api.post(f"/api/v2/meta/bases/{base_id}/tables", json=body))["id"]
        form_id: str = _ok(api.post(f"/api/v2/meta/tables/{table_id}/forms", json={"title": "Send"}))["id"]
        _ok(api.patch(f"/api/v2/meta/forms/{form_id}", json={"success_msg": CAMPAIGN_MESSAGE}))
    return table_id, form_id


def _attach(
    nocodb: LocalNocoDB, token: str, table_id: str, *, review_view: bool = False, form_messages: bool = False
) -> list[str]:
    changes = Changes()
    asyncio.run(
        attach(
            base_url=nocodb.url,
            api_token=token,
            table_id=table_id,
            facegate_url="http://127.0.0.1:9",
            webhook_secret="s",
            politicians=["obama"],
            fields=FieldNames(image="Picture", politician="Minister", status="State"),
            carousel_url=CAROUSEL,
            review_view=review_view,
            form_messages=form_messages,
            changes=changes,
        )
    )
    return changes.lines


@pytest.mark.parametrize(
    "status",
    [
        {"title": "State", "uidt": "SingleLineText"},
        {"title": "State", "uidt": "SingleSelect", "colOptions": {"options": [{"title": "review"}]}},
    ],
    ids=["text", "select"],
)
def test_attach_adds_the_note_and_only_with_the_flags_the_view_and_the_messages(
    nocodb: LocalNocoDB, own: BootstrapResult, status: dict[str, Any]
) -> None:
    token = own.api_token
    table_id, form_id = _campaign(nocodb, token, f"Campaign {status['uidt']}", status)
    _attach(nocodb, token, table_id)
    note = _columns(nocodb, token, table_id)["Facegate"]
    form = _get(nocodb, token, f"/api/v2/meta/forms/{form_id}")
    assert not next(fc for fc in form["columns"] if fc["fk_column_id"] == note["id"])["show"]
    assert form["success_msg"] == CAMPAIGN_MESSAGE
    assert _review_views(nocodb, token, table_id) == []

    lines = _attach(nocodb, token, table_id, review_view=True, form_messages=True)
    assert any(line.startswith("created grid view 'Review'") for line in lines), lines
    assert _get(nocodb, token, f"/api/v2/meta/forms/{form_id}")["success_msg"] == after_submit_message(
        CAROUSEL
    )
    view_id = _assert_review_view(nocodb, token, table_id, status="State", image="Picture")
    ids = _insert(nocodb, token, table_id, [{"Minister": "obama", "State": state} for state in STATUSES])
    assert [row["Id"] for row in _in_view(nocodb, token, table_id, view_id)] == [ids[0], ids[3]]
    assert _attach(nocodb, token, table_id, review_view=True, form_messages=True) == []
