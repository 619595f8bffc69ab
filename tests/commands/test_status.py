"""``facegate status``: readiness's checks, the service's own answer, and what waits in the stores,
with a fake NocoDB and a fake service (``httpx.MockTransport``) over a real database."""

from __future__ import annotations

import asyncio
import io
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.commands.status import STATUS_HEALTHY, STATUS_UNHEALTHY, run_status
from app.config import STORE_FILE, Settings
from app.erasure.service import UNCONFIGURED_LOCAL
from app.erasure.store import PurgeState, PurgeTrigger
from app.moderation.queue import NewJob
from app.outcomes import Action, Decision, HoldReason, Reason
from harness.images import ROOT
from tests.utils.stores import fresh_stores

TABLE = "m1"
SERVICE = "http://facegate.test:8000"
COLUMNS = [{"title": title} for title in ("Id", "Politician", "Image", "Status")]


def _settings(tmp_path: Path, **values: Any) -> Settings:
    references = tmp_path / "reference_faces"
    if not references.exists():
        shutil.copytree(ROOT / "reference_faces", references)
    defaults: dict[str, Any] = {
        "reference_dir": references,
        "data_dir": tmp_path / "data",
        "nocodb_url": "http://nocodb.test",
        "nocodb_api_token": "tok",
        "nocodb_table_id": TABLE,
    }
    return Settings(_env_file=None, **(defaults | values))


def _nocodb(status: int = 200, columns: list[dict[str, str]] = COLUMNS) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == f"/api/v2/meta/tables/{TABLE}" and request.headers["xc-token"] == "tok"
        if status != 200:
            return httpx.Response(status, json={"msg": "Unauthorized"})
        return httpx.Response(200, json={"id": TABLE, "title": "Uploads", "columns": columns})

    return httpx.MockTransport(handler)


def _service(code: str | None = None) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        assert str(request.url) == f"{SERVICE}/readyz"
        if code is None:
            return httpx.Response(200, json={"status": "ready", "politicians": 2, "reference_photos": 3})
        error = {"code": code, "message": f"facegate cannot moderate: {code}", "detail": None}
        return httpx.Response(503, json={"error": error})

    return httpx.MockTransport(handler)


def _status(settings: Settings, nocodb: httpx.MockTransport, service: httpx.MockTransport) -> tuple[int, str]:
    out = io.StringIO()
    code = asyncio.run(
        run_status(settings, service_url=SERVICE, out=out, nocodb_transport=nocodb, service_transport=service)
    )
    return code, out.getvalue()


def _fill(database: Path) -> None:
    """A queued job, a failed one, a held one, a row in review, a pending purge and a finished one."""
    with fresh_stores(database) as stores:
        jobs = [NewJob(f"k{row_id}", TABLE, row_id, {"Id": row_id}) for row_id in (1, 2, 3)]
        stores.queue.enqueue(jobs, source="webhook")
        (failed,) = stores.queue.claim(1)
        stores.queue.fail(failed, "NocoDB refused PATCH: 422")
        (held,) = stores.queue.claim(1)
        stores.queue.hold(held, HoldReason.UNKNOWN_OPTION, "Option 'Jane Doe' of 'Politician' names no one.")
        review = stores.decisions.record_decision(
            row_key="k9", table_id=TABLE, row_id=9, politician="obama", decision=Decision.REVIEW,
            reason=Reason.NEAR_TOLERANCE, detail=None, distances=[],
        )  # fmt: skip
        stores.decisions.record_action(review.id, Action.REVIEW)
        for row_id, state in ((7, PurgeState.PENDING), (8, PurgeState.DONE)):
            stores.purges.record(
                row_key=f"k{row_id}", table_id=TABLE, row_id=row_id, trigger=PurgeTrigger.DELETED,
                state=state, locations=["2026/01/01/x/a.jpg"], files=0, bytes_removed=0,
                detail=UNCONFIGURED_LOCAL if state is PurgeState.PENDING else None,
            )  # fmt: skip


def test_a_healthy_facegate_and_what_waits(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _fill(settings.data_dir / STORE_FILE)
    code, out = _status(settings, _nocodb(), _service())
    assert code == STATUS_HEALTHY
    assert out.splitlines() == [
        "nocodb      ok    answers",
        "token       ok    accepted",
        f"table       ok    'Uploads' ({TABLE})",
        "columns     ok    'Image', 'Politician', 'Status'",
        "references  ok    2 politicians",
        f"service     ok    ready at {SERVICE}",
        out.splitlines()[6],  # the queue: its ages are the clock's
        "failed jobs (GET /jobs?state=failed; the rows stay undecided): 1",
        "  row 1: NocoDB refused PATCH: 422",
        "held rows, undecided and untouched until what holds them is fixed (GET /jobs?state=held): 1",
        "  row 2: unknown_option: Option 'Jane Doe' of 'Politician' names no one.",
        "rows awaiting review (Status = review in NocoDB's grid): 1",
        "pending purges (facegate purge): 1",
        f"  row 7: {UNCONFIGURED_LOCAL}",
        "healthy: facegate can moderate",
    ]
    assert out.splitlines()[6].startswith("queue: 1 queued, 0 running, 0 done, 1 failed, 1 held, the oldest ")
    assert out.splitlines()[6].endswith("; 0 waiting long (NocoDB failing)")


@pytest.mark.parametrize(
    ("nocodb", "service", "expected"),
    [
        (
            _nocodb(401),
            _service("nocodb_token_refused"),
            "token       FAIL  nocodb_token_refused: refused (HTTP 401)",
        ),
        (
            _nocodb(columns=COLUMNS[:2]),
            _service("column_missing"),
            "columns     FAIL  column_missing: the table has no column 'Image' (image), 'Status' (status)",
        ),
    ],
)
def test_a_failing_check_is_named_and_the_exit_is_non_zero(
    tmp_path: Path, nocodb: httpx.MockTransport, service: httpx.MockTransport, expected: str
) -> None:
    settings = _settings(tmp_path)
    _fill(settings.data_dir / STORE_FILE)
    code, out = _status(settings, nocodb, service)
    assert code == STATUS_UNHEALTHY
    assert any(line.startswith(expected) for line in out.splitlines()), out
    reason = expected.split("FAIL  ")[1].split(":")[0]
    assert f"service     FAIL  {reason}: {SERVICE}/readyz: facegate cannot moderate: {reason}" in out
    assert out.splitlines()[-1] == f"unhealthy: {reason}"


def test_no_politician_no_service_and_no_database_are_each_a_failure(tmp_path: Path) -> None:
    settings = _settings(tmp_path, nocodb_url=None)
    for politician in settings.reference_dir.iterdir():
        shutil.rmtree(politician)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("All connection attempts failed", request=request)

    code, out = _status(settings, _nocodb(), httpx.MockTransport(down))
    assert code == STATUS_UNHEALTHY
    lines = out.splitlines()
    assert lines[0].startswith("nocodb      ok    not configured")
    assert lines[1].startswith("references  FAIL  references_empty: no politician in the reference folder")
    assert lines[2] == (
        f"service     FAIL  service_down: no answer at {SERVICE}/readyz (ConnectError): is facegate running?"
    )
    database = settings.data_dir / STORE_FILE
    assert (
        lines[3] == f"database    FAIL  no_database: no facegate database at {database} (FACEGATE_DATA_DIR)"
    )
    assert lines[-1] == "unhealthy: references_empty, service_down, no_database"
    assert not settings.data_dir.exists()  # no empty database made
