"""/readyz against the real NocoDB: 503 with the reason while facegate cannot moderate (a refused
token, a wrong table id, a missing column, NocoDB down), 200 once it can; and ``facegate status``
saying the same of a running facegate."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.assembly import Runtime
from app.commands.bootstrap.nocodb import BootstrapResult
from app.commands.status import STATUS_UNHEALTHY, run_status
from app.config import Settings
from app.erasure.files import StoredFiles
from app.erasure.local import LocalUploads
from app.erasure.probe import StorageProbe
from app.integrations.nocodb.client import NocoDBClient
from app.main import create_app
from app.readiness import Check
from harness.facegate import facegate_env, running_facegate
from harness.loop import bootstrap_base, nocodb_api
from harness.net import free_port
from harness.nocodb import LocalNocoDB
from tests.utils.hostile import assert_error


@pytest.fixture(scope="module")
def setup(nocodb: LocalNocoDB) -> BootstrapResult:
    return bootstrap_base(nocodb.url, "http://127.0.0.1:9", base_title="readyz")


def _settings(
    setup: BootstrapResult, nocodb: LocalNocoDB, reference_dir: Path, tmp_path: Path, **values: Any
) -> Settings:
    defaults: dict[str, Any] = {
        "reference_dir": reference_dir,
        "data_dir": tmp_path / "data",
        "workers": 1,
        "nocodb_url": nocodb.url,
        "nocodb_api_token": setup.api_token,
        "nocodb_table_id": setup.table_id,
        "sweep_interval_seconds": 0,
    }
    return Settings(_env_file=None, **(defaults | values))


@pytest.fixture
def app(
    setup: BootstrapResult,
    nocodb: LocalNocoDB,
    reference_dir: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[TestClient]:
    """facegate in this process, with the settings the test is parametrized with, on the real NocoDB."""
    named: dict[str, dict[str, Any]] = {
        "down": {"nocodb_url": f"http://127.0.0.1:{free_port()}"},
        # A folder that exists but is not NocoDB's nc/uploads (a volume not mounted, a typo).
        "not-nocodbs-folder": {"nocodb_uploads_dir": tmp_path / "uploads"},
        "nocodbs-folder": {"nocodb_uploads_dir": nocodb.uploads_dir},
    }
    values: dict[str, Any] = named[request.param] if isinstance(request.param, str) else request.param
    (tmp_path / "uploads").mkdir()
    with TestClient(create_app(_settings(setup, nocodb, reference_dir, tmp_path, **values))) as http:
        yield http


@pytest.mark.parametrize(
    ("app", "code", "words"),
    [
        ({"nocodb_api_token": "x" * 40}, "nocodb_token_refused", "refused (HTTP 401)"),
        ({"nocodb_table_id": "m0nonexistent"}, "table_not_found", "no table 'm0nonexistent'"),
        ({"nocodb_image_field": "Picture"}, "column_missing", "no column 'Picture' (image)"),
        ("down", "nocodb_unreachable", "NocoDB is unreachable"),
        ("not-nocodbs-folder", "storage_mismatch", "is not in its uploads folder"),
    ],
    indirect=["app"],
    ids=["refused-token", "wrong-table", "missing-column", "nocodb-down", "not-nocodbs-uploads-folder"],
)
def test_readyz_answers_503_with_the_reason_while_facegate_cannot_moderate(
    app: TestClient, code: str, words: str
) -> None:
    error = assert_error(app.get("/readyz"), 503, code)
    assert words in error["message"], error
    assert app.get("/healthz").status_code == 200  # the process answers all the same


@pytest.mark.parametrize("app", [{}], indirect=True, ids=["configured"])
def test_readyz_answers_200_when_nocodb_has_the_table_and_its_columns(app: TestClient) -> None:
    assert app.get("/readyz").json() == {"status": "ready", "politicians": 2, "reference_photos": 3}
    runtime: Runtime = app.app.state.runtime  # type: ignore[attr-defined]
    assert [check.name for check in runtime.readiness.checks] == ["nocodb", "token", "table", "columns"]


@pytest.mark.parametrize("app", ["nocodbs-folder"], indirect=True)
def test_readyz_answers_200_once_a_probe_file_is_found_in_nocodbs_storage(app: TestClient) -> None:
    assert app.get("/readyz").status_code == 200
    runtime: Runtime = app.app.state.runtime  # type: ignore[attr-defined]
    assert runtime.readiness.checks[-1].name == "storage" and runtime.readiness.checks[-1].passed


def test_the_storage_probe_erases_the_file_it_found(setup: BootstrapResult, nocodb: LocalNocoDB) -> None:
    def probes() -> set[Path]:
        return set(nocodb.uploads_dir.rglob("facegate-storage-probe*"))

    async def probe() -> Check:
        client = NocoDBClient(base_url=nocodb.url, api_token=setup.api_token)
        try:
            return await StorageProbe(client, StoredFiles(local=LocalUploads(nocodb.uploads_dir))).check()
        finally:
            await client.aclose()

    before = probes()
    assert asyncio.run(probe()).passed
    assert probes() == before


def test_a_column_removed_while_facegate_runs_is_seen_at_the_next_check(
    setup: BootstrapResult, nocodb: LocalNocoDB, reference_dir: Path, tmp_path: Path
) -> None:
    other = bootstrap_base(nocodb.url, "http://127.0.0.1:9", base_title="readyz-column")
    settings = _settings(other, nocodb, reference_dir, tmp_path)
    with TestClient(create_app(settings)) as http:
        assert http.get("/readyz").status_code == 200
        with nocodb_api(nocodb.url, other.api_token) as api:
            response = api.delete(f"/api/v2/meta/columns/{other.status_column_id}")
            assert response.is_success, response.text
        runtime: Runtime = http.app.state.runtime  # type: ignore[attr-defined]
        assert http.portal is not None
        http.portal.call(runtime.readiness.refresh)  # what the background check does every 5 min
        assert (
            "no column 'Status' (status)"
            in assert_error(http.get("/readyz"), 503, "column_missing")["message"]
        )


def test_facegate_status_says_what_the_running_service_says(
    setup: BootstrapResult, nocodb: LocalNocoDB, tmp_path: Path
) -> None:
    # A real facegate whose token NocoDB refuses: started, not ready; status names the same reason.
    env = facegate_env(tmp_path, workers=1) | {
        "FACEGATE_NOCODB_URL": nocodb.url,
        "FACEGATE_NOCODB_API_TOKEN": "x" * 40,
        "FACEGATE_NOCODB_TABLE_ID": setup.table_id,
    }
    with running_facegate(tmp_path, env, ready=False) as server:
        assert_error(httpx.get(f"{server.url}/readyz", timeout=10), 503, "nocodb_token_refused")
        settings = Settings(
            _env_file=None,
            reference_dir=tmp_path / "reference_faces",
            data_dir=tmp_path / "data",
            nocodb_url=nocodb.url,
            nocodb_api_token="x" * 40,
            nocodb_table_id=setup.table_id,
        )
        out = io.StringIO()
        assert asyncio.run(run_status(settings, service_url=server.url, out=out)) == STATUS_UNHEALTHY
    lines = out.getvalue().splitlines()
    assert (
        "token       FAIL  nocodb_token_refused: refused (HTTP 401): check FACEGATE_NOCODB_API_TOKEN" in lines
    )
    assert (
        f"service     FAIL  nocodb_token_refused: {server.url}/readyz: facegate cannot moderate: token:"
        in out.getvalue()
    )
    assert lines[-1] == "unhealthy: nocodb_token_refused"
    assert "facegate cannot moderate (nocodb_token_refused)" in server.log_tail(200)  # logged once, at start
