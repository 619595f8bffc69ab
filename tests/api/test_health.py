"""/healthz and /readyz with NocoDB configured: the process answers either way; readiness tells why
facegate cannot moderate (a fake NocoDB here; the real one in tests/api/test_readyz_nocodb.py)."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from app.assembly import Runtime
from app.config import Settings
from app.main import create_app
from tests.utils.hostile import assert_error

TABLE = "m1"
COLUMNS = [{"title": title} for title in ("Id", "Politician", "Image", "Status")]


def test_readyz_says_why_facegate_cannot_moderate_and_healthz_only_that_it_answers(
    reference_dir: Path, tmp_path: Path
) -> None:
    token = {"valid": "wrong"}

    def nocodb(request: httpx.Request) -> httpx.Response:
        if request.headers.get("xc-token") != token["valid"]:
            return httpx.Response(401, json={"msg": "Invalid token"})
        if request.url.path == f"/api/v2/meta/tables/{TABLE}":
            return httpx.Response(200, json={"id": TABLE, "title": "Uploads", "columns": COLUMNS})
        return httpx.Response(200, json={"list": [], "pageInfo": {"isLastPage": True}})

    settings = Settings(
        _env_file=None,
        reference_dir=reference_dir,
        data_dir=tmp_path / "data",
        workers=1,
        nocodb_url="http://nocodb.test",
        nocodb_api_token="right",
        nocodb_table_id=TABLE,
        sweep_interval_seconds=0,
    )
    with TestClient(create_app(settings, nocodb_transport=httpx.MockTransport(nocodb))) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        error = assert_error(http.get("/readyz"), 503, "nocodb_token_refused")  # checked at start
        assert "FACEGATE_NOCODB_API_TOKEN" in error["message"] and error["detail"]["check"] == "token"
        token["valid"] = "right"  # the operator fixes NocoDB's side; the next check sees it
        assert http.portal is not None  # the app's own event loop, where its clients live
        runtime: Runtime = http.app.state.runtime  # type: ignore[attr-defined]
        http.portal.call(runtime.readiness.refresh)
        assert http.get("/readyz").json() == {"status": "ready", "politicians": 2, "reference_photos": 3}
