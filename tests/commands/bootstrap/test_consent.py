"""`facegate bootstrap --consent-field`, against the real NocoDB: facegate's own table gets the
checkbox, required in its form; attaching checks the campaign's before anything is changed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from app.commands.bootstrap import run_bootstrap
from app.commands.bootstrap.errors import BootstrapError
from app.config import FieldNames
from app.settings_file import read_settings_file
from harness.images import ROOT
from harness.loop import ADMIN_EMAIL, ADMIN_PASSWORD, bootstrap_base, nocodb_api
from harness.nocodb import LocalNocoDB

CONSENT = FieldNames(consent="I agree")


def _bootstrap(nocodb: LocalNocoDB, env_file: Path, **options: Any) -> None:
    arguments: dict[str, Any] = {
        "nocodb_url": nocodb.url,
        "email": ADMIN_EMAIL,
        "password": ADMIN_PASSWORD,
        "facegate_url": "http://127.0.0.1:9",
        "env_file": env_file,
        "reference_dir": ROOT / "reference_faces",
        "base_title": "consent",
        "fields": CONSENT,
    }
    asyncio.run(run_bootstrap(**(arguments | options)))


def _get(nocodb: LocalNocoDB, token: str, path: str) -> Any:
    with nocodb_api(nocodb.url, token) as api:
        response = api.get(path)
        assert response.is_success, response.text
        return response.json()


def test_facegates_own_table_gets_the_checkbox_required_in_its_form(
    nocodb: LocalNocoDB, tmp_path: Path
) -> None:
    env_file = tmp_path / ".env"
    _bootstrap(nocodb, env_file)
    _bootstrap(nocodb, env_file)  # a rerun changes nothing
    settings = read_settings_file(env_file)
    assert settings["FACEGATE_NOCODB_CONSENT_FIELD"] == "I agree"
    assert "FACEGATE_BACKLOG_BEFORE" not in settings  # its own table: no backlog
    token, table = settings["FACEGATE_NOCODB_API_TOKEN"], settings["FACEGATE_NOCODB_TABLE_ID"]
    columns = [
        c for c in _get(nocodb, token, f"/api/v2/meta/tables/{table}")["columns"] if c["title"] == "I agree"
    ]
    assert [c["uidt"] for c in columns] == ["Checkbox"]
    (view,) = [v for v in _get(nocodb, token, f"/api/v2/meta/tables/{table}/views")["list"] if v["type"] == 1]
    form = _get(nocodb, token, f"/api/v2/meta/forms/{view['id']}")
    (box,) = [fc for fc in form["columns"] if fc["fk_column_id"] == columns[0]["id"]]
    assert box["show"] and box["required"]


def test_attaching_refuses_a_consent_column_that_is_not_a_checkbox(
    nocodb: LocalNocoDB, tmp_path: Path
) -> None:
    token = bootstrap_base(nocodb.url, "http://127.0.0.1:9", base_title="consent-token").api_token
    with nocodb_api(nocodb.url, token) as api:
        base = api.post("/api/v2/meta/bases", json={"title": "Consent campaign"}).json()["id"]
        columns = [
            {"title": "Politician", "uidt": "SingleLineText"},
            {"title": "Image", "uidt": "Attachment"},
            {"title": "I agree", "uidt": "SingleLineText"},
        ]
        table = api.post(f"/api/v2/meta/bases/{base}/tables", json={"title": "T", "columns": columns}).json()[
            "id"
        ]
    before = _get(nocodb, token, f"/api/v2/meta/tables/{table}")["columns"]
    for fields, message in (
        (CONSENT, "column 'I agree' is a SingleLineText; the consent column must be a Checkbox"),
        (FieldNames(consent="Consent"), "the table has no column 'Consent' for the consent"),
    ):
        with pytest.raises(BootstrapError, match=message):
            _bootstrap(nocodb, tmp_path / ".env", api_token=token, table_id=table, fields=fields, email=None)
    assert _get(nocodb, token, f"/api/v2/meta/tables/{table}")["columns"] == before  # no Status added
    assert _get(nocodb, token, f"/api/v2/meta/tables/{table}/hooks")["list"] == []
    assert not (tmp_path / ".env").exists()
