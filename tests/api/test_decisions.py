"""`GET /decisions`: each decision with the erasure of its upload's files, joined once per page."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.assembly import Runtime
from app.erasure.store import PurgeLog, PurgeState, PurgeTrigger
from app.outcomes import Action, Decision, Reason

ROW_ID = 7001  # the session's app is shared: these tests keep to their own row Id


def _decide(runtime: Runtime, row_key: str, action: Action) -> None:
    record = runtime.decisions.record_decision(
        row_key=row_key,
        table_id="tbl1",
        row_id=ROW_ID,
        politician="obama",
        decision=Decision.REJECTED,
        reason=Reason.NO_MATCH,
        detail=None,
        distances=[],
    )
    runtime.decisions.record_action(record.id, action)


def _purged(runtime: Runtime, row_key: str, state: PurgeState, detail: str | None) -> None:
    PurgeLog(runtime.decisions.db).record(
        row_key=row_key,
        table_id="tbl1",
        row_id=ROW_ID,
        trigger=PurgeTrigger.DELETED,
        state=state,
        locations=["2026/01/01/x/a.jpg"],
        files=2 if state is PurgeState.DONE else 0,
        bytes_removed=1234 if state is PurgeState.DONE else 0,
        detail=detail,
    )


@pytest.fixture(scope="module")
def page(client: TestClient) -> dict[str, dict[str, Any]]:
    """Four decisions about row 7001: purged, pending, refused, and approved (no purge); by row key."""
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    _decide(runtime, "k-done", Action.DELETED)
    _purged(runtime, "k-done", PurgeState.DONE, None)
    _decide(runtime, "k-pending", Action.DELETED)
    _purged(runtime, "k-pending", PurgeState.PENDING, "FACEGATE_NOCODB_UPLOADS_DIR is not set")
    _decide(runtime, "k-refused", Action.ALREADY_GONE)
    _purged(
        runtime, "k-refused", PurgeState.REFUSED, "The attachment's path is not a NocoDB upload location."
    )
    _decide(runtime, "k-approved", Action.APPROVED)
    response = client.get("/decisions", params={"row_id": ROW_ID})
    assert response.status_code == 200, response.text
    return {item["row_key"]: item for item in response.json()["items"]}


def test_a_purged_upload_shows_what_was_erased(page: dict[str, dict[str, Any]]) -> None:
    purge = page["k-done"]["purge"]
    assert {k: purge[k] for k in ("state", "files", "bytes", "detail", "trigger")} == {
        "state": "done",
        "files": 2,
        "bytes": 1234,
        "detail": None,
        "trigger": "deleted",
    }
    assert purge["updated_at"].endswith("Z")
    assert "locations" not in purge  # where the files were is not the operator's business


def test_a_purge_not_done_says_why(page: dict[str, dict[str, Any]]) -> None:
    assert page["k-pending"]["purge"]["state"] == "pending"
    assert "UPLOADS_DIR" in page["k-pending"]["purge"]["detail"]
    assert page["k-refused"]["purge"]["state"] == "refused"
    assert "upload location" in page["k-refused"]["purge"]["detail"]


def test_a_decision_without_purge_has_null(page: dict[str, dict[str, Any]]) -> None:
    assert page["k-approved"]["purge"] is None


def test_the_purges_of_a_page_are_read_in_one_query(
    client: TestClient, page: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    for_rows = PurgeLog.for_rows

    def counted(self: PurgeLog, row_keys: list[str]) -> Any:
        calls.append(len(row_keys))
        return for_rows(self, row_keys)

    monkeypatch.setattr(PurgeLog, "for_rows", counted)
    monkeypatch.setattr(PurgeLog, "for_row", None)  # never one lookup per decision
    first = client.get("/decisions", params={"row_id": ROW_ID, "limit": 3}).json()
    assert calls == [3] and [i["row_key"] for i in first["items"]] == ["k-approved", "k-refused", "k-pending"]
    rest = client.get("/decisions", params={"row_id": ROW_ID, "cursor": first["next_cursor"]}).json()
    assert [(i["row_key"], i["purge"]["state"]) for i in rest["items"]] == [("k-done", "done")]
    assert calls == [3, 1]
