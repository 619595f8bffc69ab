"""`facegate bootstrap` (app.cli) against the real NocoDB: settings written once, kept on reruns."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

from app.cli import read_env_file, run_bootstrap, write_env_file
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
