"""Hostile rows and events against the real NocoDB (issue 11, classes 1 to 6): whatever the
public form or a forged webhook carries, each row is decided from NocoDB's own copy, and decided."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from PIL import Image, PngImagePlugin

from app.moderation.rows import parse_row, row_key
from harness.images import open_sample, sample
from harness.loop import FIELDS, WEBHOOK_SECRET, Loop, running_loop
from harness.nocodb import LocalNocoDB

MAX_IMAGES = 4


@pytest.fixture(scope="module")
def loop(nocodb: LocalNocoDB, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    workdir = tmp_path_factory.mktemp("facegate")
    env = {"FACEGATE_MAX_IMAGES_PER_ROW": str(MAX_IMAGES)}
    with running_loop(nocodb, workdir, base_title="hostile-rows", extra_env=env) as running:
        yield running


def _form(loop: Loop, cells: dict[str, Any]) -> dict[str, Any]:
    """A submission of the public form with cells of the attacker's choosing (no file sent)."""
    response = httpx.post(
        f"{loop.nocodb.url}/api/v2/public/shared-view/{loop.setup.form_uuid}/rows",
        files={"data": (None, json.dumps(cells))},  # multipart, as a browser sends it: no 100 kB limit
        timeout=30,
    )
    assert response.status_code == 200, response.text
    row: dict[str, Any] = response.json()
    return row


def _reason(loop: Loop, row: dict[str, Any]) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        decided = [d for d in loop.decisions(row["Id"]) if d["action"] is not None]
        if decided:
            return str(decided[0]["reason"])
        time.sleep(0.1)
    raise AssertionError(f"row {row['Id']} has no decision: {loop.facegate.log_tail()}")


def _wait_gone(loop: Loop, row: dict[str, Any]) -> None:
    deadline = time.monotonic() + 30
    while loop.row(row["Id"]) is not None:
        assert time.monotonic() < deadline, f"row {row['Id']} still there: {loop.facegate.log_tail()}"
        time.sleep(0.1)


def _approved_image(loop: Loop) -> list[dict[str, Any]]:
    row = loop.submit("obama", sample("obama2.jpg"))
    loop.wait_final(row, "approved")
    cell: list[dict[str, Any]] = row[FIELDS.image]
    return cell


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        # A file NocoDB does not have, in no upload folder: not the row's own upload (issue 26).
        ("download/2026/01/01/nothing-here/absent.jpg", "foreign_attachment"),
        ("download/2026/01/01/x/a.jpg\r\nX-Injected: 1", "unreadable_image"),  # CRLF
        ("download/" + "a/" * 50_000 + "b.jpg", "unreadable_image"),  # 100 kB
        ("../../etc/passwd", "unreadable_image"),
        ("https://attacker.example/cat.jpg", "unreadable_image"),
    ],
    ids=["absent", "crlf", "100kB", "traversal", "foreign-url"],
)
def test_a_forged_attachment_is_a_decided_rejection(loop: Loop, path: str, reason: str) -> None:
    # Class 1: the public form stores any attachment JSON; the row must still be decided, and deleted.
    row = _form(loop, {FIELDS.politician: "obama", FIELDS.image: [{"path": path, "title": "x.jpg"}]})
    loop.wait_final(row, "deleted")
    assert _reason(loop, row) == reason


def test_a_forged_webhook_copy_cannot_approve_a_cat(loop: Loop) -> None:
    # Class 2: with the secret, an event that keeps a cat row's Id, CreatedAt and attachment id but
    # points at an approved file. facegate reads the row from NocoDB: the cat is what it decides.
    obama = _approved_image(loop)
    shown = httpx.get(f"{loop.facegate.url}/approved", timeout=10).json()["items"]
    cat = loop.submit("obama", sample("cat.png"))
    forged_row = {**cat, FIELDS.image: [{**cat[FIELDS.image][0], "path": obama[0]["path"]}]}
    event = {"type": "records.after.insert", "data": {"table_id": loop.setup.table_id, "rows": [forged_row]}}
    httpx.post(
        f"{loop.facegate.url}/webhooks/nocodb", json=event, headers={"X-Facegate-Secret": WEBHOOK_SECRET}
    )
    loop.wait_final(cat, "deleted")
    assert _reason(loop, cat) == "no_face"
    assert httpx.get(f"{loop.facegate.url}/approved", timeout=10).json()["items"] == shown


def test_dozens_of_references_to_one_picture_are_one_rejection(loop: Loop) -> None:
    # Class 3: an anonymous row naming one large picture again and again must not hold the workers.
    obama = _approved_image(loop)
    started = time.monotonic()
    row = _form(loop, {FIELDS.politician: "obama", FIELDS.image: obama * 40})
    loop.wait_final(row, "deleted")
    assert _reason(loop, row) == "too_many_images"
    normal = loop.submit("obama", sample("obama2.jpg"))
    loop.wait_final(normal, "approved", started)


@pytest.mark.parametrize("status", ["approved", "review", "rejected"])
def test_a_status_facegate_did_not_write_is_moderated_all_the_same(loop: Loop, status: str) -> None:
    # Class 4: a row that arrives with a Status (the API, or a form that shows the field). Bootstrap's
    # Status is a select, so only its options can arrive (a text Status, attached to, may hold
    # anything: tests/integrations/nocodb/test_attach.py).
    row = _api_row(loop, {FIELDS.politician: "obama", FIELDS.status: status})
    _wait_gone(loop, row)  # "approved" in NocoDB until facegate decides it
    assert _reason(loop, row) == "no_image"


def _api_row(loop: Loop, cells: dict[str, Any]) -> dict[str, Any]:
    with loop.api() as api:
        response = api.post(f"/api/v2/tables/{loop.setup.table_id}/records", json=[cells])
        response.raise_for_status()
    row: dict[str, Any] = response.json()[0]
    return row


def test_a_reused_id_in_the_same_second_is_a_new_row(loop: Loop) -> None:
    # NocoDB on SQLite gives a deleted last row's Id to the next row: two rows without attachments
    # created within one second then look the same to facegate. The second must be decided too,
    # however its events interleave with the first one's job. The first row is deleted at once (as
    # its owner or a moderator could), so that both fall in one second even on a loaded machine.
    collisions = 0
    for _ in range(5):
        first = _form(loop, {FIELDS.politician: "obama"})
        with loop.api() as api:
            records = f"/api/v2/tables/{loop.setup.table_id}/records"
            api.request("DELETE", records, json=[{"Id": first["Id"]}])  # 404 if facegate was first
        second = _form(loop, {FIELDS.politician: "biden"})
        _wait_gone(loop, second)
        if second["Id"] == first["Id"] and second["CreatedAt"][:19] == first["CreatedAt"][:19]:
            collisions += 1
            break
    assert collisions, "no two rows shared an Id and a second: the case was not exercised"
    key = row_key(loop.setup.table_id, parse_row(second, FIELDS))
    deadline = time.monotonic() + 30
    while not (acted := [d for d in loop.decisions(second["Id"]) if d["row_key"] == key and d["action"]]):
        assert time.monotonic() < deadline, loop.facegate.log_tail()
        time.sleep(0.1)
    assert (acted[0]["politician"], acted[0]["reason"]) == ("biden", "no_image")


def _operator_upload(api: httpx.Client, name: str, mimetype: str) -> list[dict[str, Any]]:
    stored = api.post("/api/v2/storage/upload", files={"files": (name, sample(name), mimetype)})
    stored.raise_for_status()
    cell: list[dict[str, Any]] = stored.json()
    return cell


def test_a_picture_swapped_after_approval_is_moderated_again(loop: Loop) -> None:
    # Class 6: the row stays "approved" in NocoDB; the new picture is a new upload to decide. Only the
    # row's creator may swap in its own upload (issue 26): here the operator, in a row it created.
    with loop.api() as api:
        records = f"/api/v2/tables/{loop.setup.table_id}/records"
        cell = _operator_upload(api, "obama2.jpg", "image/jpeg")
        (created,) = api.post(records, json=[{FIELDS.politician: "obama", FIELDS.image: cell}]).json()
        row = api.get(f"{records}/{created['Id']}").json()
    loop.wait_final(row, "approved")
    shown = httpx.get(f"{loop.facegate.url}/approved", timeout=10).json()["items"]
    with loop.api() as api:  # the owner puts a cat in the approved row
        cat = _operator_upload(api, "cat.png", "image/png")
        api.patch(records, json={"Id": row["Id"], FIELDS.image: cat}).raise_for_status()
    _wait_gone(loop, row)  # "approved" in NocoDB until facegate decides the new picture
    assert _reason(loop, row) == "no_face"
    after = httpx.get(f"{loop.facegate.url}/approved", timeout=10).json()["items"]
    assert [item["id"] for item in after] == [item["id"] for item in shown][1:]  # the swapped row is gone


def test_an_approved_picture_is_rendered_once_from_the_verified_bytes(loop: Loop) -> None:
    # Class 5: a PNG carrying a 2 MB text chunk. Its renditions are made at approval from the bytes
    # facegate verified; requests serve those files and never fetch or decode the original again.
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "x" * (2 << 20))
    upload = io.BytesIO()
    open_sample("obama2.jpg").convert("RGB").save(upload, "PNG", pnginfo=text)
    row = loop.submit("obama", upload.getvalue(), name="obama.png")
    loop.wait_final(row, "approved")
    newest = httpx.get(f"{loop.facegate.url}/approved", timeout=10).json()["items"][0]
    made = _renditions(loop, newest["id"])
    assert set(made) == {"image", "thumbnail"}, "renditions are made at approval, before any request"
    url = f"{loop.facegate.url}{newest['thumbnail_url']}"
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: httpx.get(url, timeout=30), range(8)))
    assert {(a.status_code, a.headers["content-type"]) for a in answers} == {(200, "image/jpeg")}
    served = Image.open(io.BytesIO(answers[0].content))
    assert served.format == "JPEG" and "Comment" not in served.info and max(served.size) <= 480
    # Served as kept at approval, not made again.
    assert {a.content for a in answers} == {made["thumbnail"]} and _renditions(loop, newest["id"]) == made


def _renditions(loop: Loop, approval_id: int) -> dict[str, bytes]:
    """The renditions facegate keeps for an approval, read from its database (SQLite in its data folder)."""
    database = loop.facegate.workdir / "data" / "facegate.db"
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT rendition, jpeg FROM renditions WHERE approval_id = ?", (approval_id,))
        return {name: bytes(jpeg) for name, jpeg in rows}
