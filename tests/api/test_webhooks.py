from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr

from app.tables import jobs
from harness.images import ROOT

SECRET = {"X-Facegate-Secret": "test-webhook-secret"}
EVENT: dict[str, Any] = json.loads((ROOT / "tests/fixtures/nocodb_webhook_insert.json").read_text())


def _event(*row_ids: int) -> dict[str, Any]:
    event = copy.deepcopy(EVENT)
    template = event["data"]["rows"][0]
    event["data"]["rows"] = [
        template | {"Id": i, "CreatedAt": f"2026-01-01 00:00:{i % 60:02d}+00:00"} for i in row_ids
    ]
    return event


def _error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_real_nocodb_payload_is_queued(client: TestClient) -> None:
    response = client.post("/webhooks/nocodb", json=_event(101, 102), headers=SECRET)
    assert response.status_code == 202
    assert response.json() == {"event": "records.after.insert", "received": 2, "queued": 2, "ignored": 0}
    jobs = client.get("/jobs").json()["items"]
    assert {j["row_id"] for j in jobs} >= {101, 102}


def test_duplicate_webhook_queues_nothing(client: TestClient) -> None:
    assert client.post("/webhooks/nocodb", json=_event(201), headers=SECRET).json()["queued"] == 1
    again = client.post("/webhooks/nocodb", json=_event(201), headers=SECRET)
    assert again.status_code == 202 and again.json()["queued"] == 0


def test_stored_job_keeps_only_what_moderation_needs(client: TestClient) -> None:
    event = _event(301)
    event["data"]["rows"][0]["Email"] = "uploader@example.org"
    client.post("/webhooks/nocodb", json=event, headers=SECRET)
    queue = client.app.state.runtime.queue  # type: ignore[attr-defined]
    (job,) = [j for j in queue.jobs(limit=500) if j.row_id == 301]
    assert set(job.row) == {"Id", "CreatedAt", "politician", "attachments", "status"}
    assert "title" not in job.row["attachments"][0]
    assert "uploader@example.org" not in json.dumps(job.row)


def test_other_event_types_are_acknowledged_and_ignored(client: TestClient) -> None:
    response = client.post(
        "/webhooks/nocodb", json={"type": "records.before.insert", "data": {}}, headers=SECRET
    )
    assert response.status_code == 200
    assert response.json()["queued"] == 0


def test_bulk_insert_of_many_rows(client: TestClient) -> None:
    response = client.post("/webhooks/nocodb", json=_event(*range(1000, 3000)), headers=SECRET)
    assert response.status_code == 202 and response.json()["queued"] == 2000


def test_rows_without_a_valid_id_are_ignored(client: TestClient) -> None:
    event = _event(401)
    event["data"]["rows"].append({"Politician": "obama"})
    assert client.post("/webhooks/nocodb", json=event, headers=SECRET).json()["ignored"] == 1


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"type": 5}',
        b'{"type": "records.after.insert"}',
        b'{"type": "records.after.insert", "data": {"table_id": "t", "rows": "x"}}',
        b'{"type": "records.after.insert", "data": {"rows": []}}',
    ],
)
def test_malformed_bodies_are_422(client: TestClient, body: bytes) -> None:
    response = client.post(
        "/webhooks/nocodb", content=body, headers=SECRET | {"Content-Type": "application/json"}
    )
    _error(response, 422, "invalid_request")


def test_huge_body_is_413_before_parsing(client: TestClient) -> None:
    limit = client.app.state.settings.max_upload_bytes  # type: ignore[attr-defined]
    body = b'{"type": "' + b"x" * (limit + 2 * 1024 * 1024) + b'"}'
    _error(client.post("/webhooks/nocodb", content=body, headers=SECRET), 413, "payload_too_large")


def test_secret_required(client: TestClient) -> None:
    _error(client.post("/webhooks/nocodb", json=_event(1)), 401, "unauthorized")
    wrong = {"X-Facegate-Secret": "test-webhook-secreT"}
    _error(client.post("/webhooks/nocodb", json=_event(1), headers=wrong), 401, "unauthorized")


@pytest.fixture
def no_secret(client: TestClient) -> Iterator[None]:
    settings = client.app.state.settings  # type: ignore[attr-defined]
    saved, settings.webhook_secret = settings.webhook_secret, None
    yield
    settings.webhook_secret = saved


@pytest.mark.usefixtures("no_secret")
def test_unset_secret_refuses_everything(client: TestClient) -> None:
    _error(client.post("/webhooks/nocodb", json=_event(1), headers=SECRET), 401, "unauthorized")
    _error(
        client.post("/webhooks/nocodb", json=_event(1), headers={"X-Facegate-Secret": ""}),
        401,
        "unauthorized",
    )


def test_empty_secret_setting_counts_as_unset() -> None:
    from app.config import Settings

    assert Settings(_env_file=None, webhook_secret=SecretStr("  ")).webhook_secret is None
    assert Settings(_env_file=None, webhook_secret="  ").webhook_secret is None


def test_decisions_filters_are_validated(client: TestClient) -> None:
    assert client.get("/decisions").status_code == 200
    _error(client.get("/decisions", params={"decision": "maybe"}), 422, "invalid_request")
    _error(client.get("/decisions", params={"reason": "not_a_reason"}), 422, "invalid_request")
    assert client.get("/decisions", params={"decision": "rejected", "reason": "row_gone"}).status_code == 200
    _error(client.get("/decisions", params={"row_id": 0}), 422, "invalid_request")


def test_a_failed_job_can_be_retried_by_an_operator(client: TestClient) -> None:
    client.post("/webhooks/nocodb", json=_event(501), headers=SECRET)
    queue = client.app.state.runtime.queue  # type: ignore[attr-defined]
    (job,) = [j for j in queue.jobs(limit=10_000) if j.row_id == 501]
    assert client.post(f"/jobs/{job.id}/retry").status_code == 404  # queued, not failed
    with queue.db.tx() as db:  # what the runner does when NocoDB refuses the row
        db.execute(sa.update(jobs).where(jobs.c.id == job.id).values(state="failed", last_error="refused"))
    response = client.post(f"/jobs/{job.id}/retry")
    assert response.status_code == 200 and response.json()["state"] == "queued"
    failed = client.get("/jobs", params={"state": "failed"}).json()["items"]
    assert all(j["id"] != job.id for j in failed)
