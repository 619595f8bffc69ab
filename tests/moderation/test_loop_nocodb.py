"""The moderation loop end to end: a real NocoDB, its real webhook, facegate as a real server.

Uploads go through NocoDB's public shared-form endpoint, as the form page in a browser sends them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.moderation.rows import parse_row, row_key
from harness.images import sample, side_by_side
from harness.loop import FIELDS, OPERATOR_KEY, WEBHOOK_SECRET, Loop, running_loop
from harness.nocodb import LocalNocoDB


@pytest.fixture(scope="module")
def loop(nocodb: LocalNocoDB, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    with running_loop(nocodb, tmp_path_factory.mktemp("facegate"), base_title="moderation-loop") as running:
        yield running


def _decisions_of(loop: Loop, row: dict[str, Any]) -> list[dict[str, Any]]:
    """The decisions about this upload (a row Id may have served several uploads)."""
    key = row_key(loop.setup.table_id, parse_row(row, FIELDS))
    return [d for d in loop.decisions(row["Id"]) if d["row_key"] == key]


def _assert_decided_once(loop: Loop, row: dict[str, Any], decision: str, reason: str, action: str) -> None:
    # NocoDB shows the outcome a moment before facegate has recorded its action (the carousel's
    # renditions are made in between).
    deadline = time.monotonic() + 10
    decisions = _decisions_of(loop, row)
    while time.monotonic() < deadline and any(d["action"] is None for d in decisions):
        time.sleep(0.1)
        decisions = _decisions_of(loop, row)
    assert len(decisions) == 1, decisions
    (record,) = decisions
    assert (record["decision"], record["reason"], record["action"]) == (decision, reason, action)


def test_matching_photo_is_approved(loop: Loop) -> None:
    started = time.monotonic()
    row = loop.submit("obama", sample("obama2.jpg"))
    loop.wait_final(row, "approved", started)
    _assert_decided_once(loop, row, "approved", "match", "approved")


def test_other_person_is_deleted(loop: Loop) -> None:
    started = time.monotonic()
    row = loop.submit("obama", sample("biden.jpg"))
    loop.wait_final(row, "deleted", started)
    _assert_decided_once(loop, row, "rejected", "no_match", "deleted")


def test_photo_without_face_is_deleted(loop: Loop) -> None:
    started = time.monotonic()
    row = loop.submit("biden", sample("cat.png"), "cat.png")
    loop.wait_final(row, "deleted", started)
    _assert_decided_once(loop, row, "rejected", "no_face", "deleted")


def test_photo_with_two_faces_is_deleted(loop: Loop) -> None:
    started = time.monotonic()
    row = loop.submit("obama", side_by_side("obama2.jpg", "biden.jpg"))
    loop.wait_final(row, "deleted", started)
    _assert_decided_once(loop, row, "rejected", "multiple_faces", "deleted")


def test_not_an_image_is_deleted(loop: Loop) -> None:
    row = loop.submit("obama", b"<html><body>not a picture</body></html>", "face.jpg")
    loop.wait_final(row, "deleted")
    _assert_decided_once(loop, row, "rejected", "unreadable_image", "deleted")


def test_ten_rows_in_one_bulk_insert_are_all_decided(loop: Loop) -> None:
    photos = {"obama2.jpg": "approved", "biden.jpg": "deleted"}
    with loop.api() as api:
        stored = {}
        for name in photos:
            response = api.post("/api/v2/storage/upload", files={"files": (name, sample(name), "image/jpeg")})
            response.raise_for_status()
            stored[name] = response.json()
        names = [name for _ in range(5) for name in photos]
        body = [{"Politician": "obama", "Image": stored[name]} for name in names]
        started = time.monotonic()
        response = api.post(f"/api/v2/tables/{loop.setup.table_id}/records", json=body)
        response.raise_for_status()
        ids = [r["Id"] for r in response.json()]
        rows = [api.get(f"/api/v2/tables/{loop.setup.table_id}/records/{i}").json() for i in ids]
    assert len(rows) == 10
    for row, name in zip(rows, names, strict=True):
        loop.wait_final(row, photos[name], started)
        assert len(_decisions_of(loop, row)) == 1


def test_rows_submitted_while_facegate_is_down_are_decided_after_it_starts(loop: Loop) -> None:
    loop.facegate.stop()
    rows = [
        (loop.submit("obama", sample("obama3.jpg")), "approved"),
        (loop.submit("biden", sample("obama2.jpg")), "deleted"),
        (loop.submit("biden", sample("rocket.jpg")), "deleted"),
    ]
    time.sleep(1)  # NocoDB's webhooks for these rows fail now, and are never sent again
    loop.facegate.start()  # the start-up sweep finds them
    for row, expected in rows:
        loop.wait_final(row, expected)
        assert len(_decisions_of(loop, row)) == 1


def test_nocodb_down_while_jobs_wait_then_back(loop: Loop) -> None:
    # Real rows, whose webhooks are lost while facegate is down; then NocoDB goes down too, and
    # facegate receives the rows' insert events (the v3 body NocoDB sends): the jobs cannot download
    # nor act, and must wait in the queue until NocoDB is back.
    loop.facegate.stop()
    rows = [
        (loop.submit("obama", sample("obama.jpg")), "approved"),
        (loop.submit("obama", sample("biden.jpg")), "deleted"),
        (loop.submit("biden", sample("biden.jpg")), "approved"),
        (loop.submit("biden", sample("obama3.jpg")), "deleted"),
    ]
    loop.nocodb.stop()
    try:
        loop.facegate.start(ready=False)  # not ready while NocoDB is down (/readyz 503)
        event = {
            "type": "records.after.insert",
            "version": "v3",
            "data": {"table_id": loop.setup.table_id, "table_name": "Uploads", "rows": [r for r, _ in rows]},
        }
        response = httpx.post(
            f"{loop.facegate.url}/webhooks/nocodb", json=event, headers={"X-Facegate-Secret": WEBHOOK_SECRET}
        )
        assert response.status_code == 202 and response.json()["queued"] == 4
        keys = {row_key(loop.setup.table_id, parse_row(row, FIELDS)) for row, _ in rows}
        deadline = time.monotonic() + 30
        waiting: list[dict[str, Any]] = []
        while time.monotonic() < deadline and len(waiting) < len(rows):
            time.sleep(0.3)
            jobs = httpx.get(
                f"{loop.facegate.url}/jobs", headers={"X-API-Key": OPERATOR_KEY}, timeout=10
            ).json()
            waiting = [
                j
                for j in jobs["items"]
                if j["row_key"] in keys and j["last_error"] and j["state"] == "queued"
            ]
        assert len(waiting) == len(rows), jobs
        assert all("unreachable" in j["last_error"] for j in waiting), waiting
        time.sleep(3)  # a few retries against the dead NocoDB
    finally:
        loop.nocodb.start()
    for row, expected in rows:
        loop.wait_final(row, expected)
        _assert_decided_once(loop, row, *_expected_decision(expected))


def _expected_decision(expected: str) -> tuple[str, str, str]:
    return (
        ("approved", "match", "approved") if expected == "approved" else ("rejected", "no_match", "deleted")
    )


def test_replayed_webhook_does_not_act_on_a_reused_row_id(loop: Loop) -> None:
    # NocoDB reuses the highest Id after it is deleted: a replay of the old event must not touch the new row.
    rejected = loop.submit("obama", sample("biden.jpg"))
    loop.wait_final(rejected, "deleted")
    old_event = {
        "type": "records.after.insert",
        "version": "v3",
        "data": {"table_id": loop.setup.table_id, "table_name": "Uploads", "rows": [rejected]},
    }
    reused = loop.submit("obama", sample("obama2.jpg"))
    assert reused["Id"] == rejected["Id"]
    loop.wait_final(reused, "approved")
    response = httpx.post(
        f"{loop.facegate.url}/webhooks/nocodb",
        json=old_event,
        headers={"X-Facegate-Secret": WEBHOOK_SECRET},
        timeout=10,
    )
    assert response.status_code == 202
    assert response.json()["queued"] == 0
    time.sleep(1)
    current = loop.row(reused["Id"])
    assert current is not None and current["Status"] == "approved"
    assert len(_decisions_of(loop, rejected)) == 1
    assert len(_decisions_of(loop, reused)) == 1
