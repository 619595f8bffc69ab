"""`facegate bootstrap` (app.cli): its settings and credentials, and against the real NocoDB, settings
written once and kept on reruns."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path
from typing import Any

import pytest

from app.cli import main, read_env_file, run_bootstrap, write_env_file
from app.config import FieldNames
from app.integrations.nocodb.bootstrap import BootstrapError
from harness.images import ROOT
from harness.loop import ADMIN_EMAIL, ADMIN_PASSWORD
from harness.nocodb import LocalNocoDB

KEYS = {
    "FACEGATE_NOCODB_URL",
    "FACEGATE_NOCODB_API_TOKEN",
    "FACEGATE_NOCODB_TABLE_ID",
    "FACEGATE_WEBHOOK_SECRET",
    "FACEGATE_OPERATOR_API_KEY",
    "FACEGATE_FORM_URL",
}


def _run(nocodb: LocalNocoDB, env_file: Path, public: str | None = None) -> None:
    asyncio.run(
        run_bootstrap(
            nocodb_url=nocodb.url,
            email=ADMIN_EMAIL,
            password=ADMIN_PASSWORD,
            facegate_url="http://127.0.0.1:9",
            env_file=env_file,
            reference_dir=ROOT / "reference_faces",
            base_title="cli",
            public_nocodb_url=public,
        )
    )


def test_bootstrap_writes_private_settings_and_a_rerun_keeps_them(
    nocodb: LocalNocoDB, tmp_path: Path
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("# mine\nFACEGATE_WORKERS=1\n")
    _run(nocodb, env_file)
    first = read_env_file(env_file)
    assert set(first) >= KEYS and first["FACEGATE_WORKERS"] == "1"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "# mine" in env_file.read_text()
    _run(nocodb, env_file, public="https://forms.example.org/")
    second = read_env_file(env_file)
    for key in (
        "FACEGATE_NOCODB_API_TOKEN",
        "FACEGATE_WEBHOOK_SECRET",
        "FACEGATE_OPERATOR_API_KEY",
        "FACEGATE_NOCODB_TABLE_ID",
    ):
        assert second[key] == first[key], key
    assert second["FACEGATE_FORM_URL"].startswith("https://forms.example.org/#/nc/form/")


def test_env_file_updates_in_place(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    write_env_file(env_file, {"A": "1", "B": "2"})
    write_env_file(env_file, {"B": "3", "C": "4"})
    assert read_env_file(env_file) == {"A": "1", "B": "3", "C": "4"}


def test_bootstrap_with_only_an_api_token(nocodb: LocalNocoDB, tmp_path: Path) -> None:
    first = tmp_path / "first.env"
    _run(nocodb, first)
    token = read_env_file(first)["FACEGATE_NOCODB_API_TOKEN"]
    second = tmp_path / "second.env"
    asyncio.run(
        run_bootstrap(
            nocodb_url=nocodb.url,
            email=None,
            password=None,
            api_token=token,
            facegate_url="http://127.0.0.1:9",
            env_file=second,
            reference_dir=ROOT / "reference_faces",
            base_title="cli",
        )
    )
    settings = read_env_file(second)
    assert settings["FACEGATE_NOCODB_API_TOKEN"] == token
    assert settings["FACEGATE_NOCODB_TABLE_ID"] == read_env_file(first)["FACEGATE_NOCODB_TABLE_ID"]


def _captured_bootstrap(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Replace the NocoDB calls by a recorder: what ``facegate bootstrap`` would pass to them."""
    seen: dict[str, Any] = {}

    async def record(**arguments: Any) -> object:
        seen.update(arguments)
        raise BootstrapError("recorded")

    monkeypatch.setattr("app.cli.run_bootstrap", record)
    return seen


@pytest.mark.parametrize("variable", ["FACEGATE_NOCODB_API_TOKEN", "NOCODB_API_TOKEN"])
def test_the_cli_reads_the_token_under_the_apps_name_or_its_alias(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str
) -> None:
    for name in ("FACEGATE_NOCODB_API_TOKEN", "NOCODB_API_TOKEN", "NOCODB_ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, "tok-123")
    monkeypatch.setenv("FACEGATE_NOCODB_IMAGE_FIELD", "Picture")
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    seen = _captured_bootstrap(monkeypatch)
    assert main(["bootstrap", "--nocodb-url", "http://127.0.0.1:9"]) == 1
    assert seen["api_token"] == "tok-123" and seen["password"] is None
    assert seen["fields"] == FieldNames(image="Picture")


def test_the_cli_refuses_to_run_without_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("FACEGATE_NOCODB_API_TOKEN", "NOCODB_API_TOKEN", "NOCODB_ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["bootstrap", "--nocodb-url", "http://127.0.0.1:9"])
    assert exited.value.code == 2
    assert "FACEGATE_NOCODB_API_TOKEN" in capsys.readouterr().err


def test_bootstrap_writes_the_column_names_it_used(nocodb: LocalNocoDB, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    _run(nocodb, env_file)
    written = read_env_file(env_file)
    assert (
        written["FACEGATE_NOCODB_IMAGE_FIELD"],
        written["FACEGATE_NOCODB_POLITICIAN_FIELD"],
        written["FACEGATE_NOCODB_STATUS_FIELD"],
    ) == ("Image", "Politician", "Status")
