"""Held rows through the HTTP API: listed by `GET /jobs?state=held`, counted by `/metrics`, and tried
again by `POST /politicians/reload` (all but the backlog, which only the operator's confirmation
releases)."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa
from fastapi.testclient import TestClient

from app.assembly import Runtime
from app.moderation.queue import Job, NewJob
from app.outcomes import HoldReason
from app.tables import jobs

ROW_IDS = (7101, 7102)  # the session's app is shared: these tests keep to their own rows


def _held(runtime: Runtime, row_id: int, reason: HoldReason) -> Job:
    """A job of the runtime's queue held for ``reason``, as the runner holds one it claimed."""
    key = f"held-test:{row_id}"
    runtime.queue.enqueue([NewJob(key, "tbl-held", row_id, {"Id": row_id})], source="test")
    with runtime.queue.db.tx() as conn:  # claimed by this test alone: other tests' jobs stay queued
        conn.execute(sa.update(jobs).where(jobs.c.row_key == key).values(state="running", claimed_by="t"))
    (job,) = [j for j in runtime.queue.jobs(limit=500) if j.row_key == key]
    assert runtime.queue.hold(dataclasses.replace(job, lease="t"), reason, f"why {row_id}")
    return job


def test_held_rows_are_listed_counted_and_released_by_a_reload(client: TestClient) -> None:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    option = _held(runtime, ROW_IDS[0], HoldReason.UNKNOWN_OPTION)
    backlog = _held(runtime, ROW_IDS[1], HoldReason.BACKLOG)

    page = client.get("/jobs", params={"state": "held"}).json()
    listed = {item["row_id"]: item for item in page["items"] if item["row_id"] in ROW_IDS}
    assert listed[ROW_IDS[0]]["held_reason"] == "unknown_option"
    assert listed[ROW_IDS[0]]["last_error"] == f"why {ROW_IDS[0]}"
    assert listed[ROW_IDS[0]]["held_since"].endswith("Z")
    assert listed[ROW_IDS[1]]["held_reason"] == "backlog"
    assert page["counts"]["held"] >= 2
    metrics = client.get("/metrics").text
    assert 'facegate_rows_held{reason="unknown_option"}' in metrics
    assert 'facegate_rows_held{reason="backlog"}' in metrics
    assert 'facegate_jobs{state="held"}' in metrics

    assert client.post("/politicians/reload").status_code == 200
    states = {j.id: (j.state, j.held_reason) for j in runtime.queue.jobs(limit=500)}
    assert states[option.id] == ("queued", None)  # a politician may have been added: tried again
    assert states[backlog.id] == ("held", "backlog")  # waits for `facegate backlog --apply`


def test_jobs_show_no_absolute_path_of_the_servers_disk(client: TestClient) -> None:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    key = "held-test:7103"
    runtime.queue.enqueue([NewJob(key, "tbl-held", 7103, {"Id": 7103})], source="test")
    with runtime.queue.db.tx() as conn:  # as an OSError's text would put it there
        conn.execute(
            sa.update(jobs)
            .where(jobs.c.row_key == key)
            .values(last_error="cannot read /srv/nocodb/uploads/2026/01/01/abc/a_12345.jpg: gone")
        )
    (item,) = [i for i in client.get("/jobs", params={"limit": 500}).json()["items"] if i["row_id"] == 7103]
    assert item["last_error"] == "cannot read …/a_12345.jpg: gone"
