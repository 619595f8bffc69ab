"""Settings files through python-dotenv: what bootstrap writes is what the service and compose read."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from app.config import Settings
from app.settings_file import SettingsFileError, check_writable, read_settings_file, write_settings_file


def test_quoted_and_exported_values_are_read_as_the_service_reads_them(tmp_path: Path) -> None:
    # A quoted secret was once written into NocoDB's webhook header with its quotes: every webhook 401.
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# the campaign's settings\nexport FACEGATE_WEBHOOK_SECRET=\"abc\"\nFACEGATE_OPERATOR_API_KEY='k 1'\n"
        "FACEGATE_WORKERS=1 # one core\n"
    )
    values = read_settings_file(env_file)
    assert values == {
        "FACEGATE_WEBHOOK_SECRET": "abc",
        "FACEGATE_OPERATOR_API_KEY": "k 1",
        "FACEGATE_WORKERS": "1",
    }
    settings = Settings(_env_file=env_file)
    assert settings.webhook_secret is not None and settings.webhook_secret.get_secret_value() == "abc"
    assert settings.workers == 1


def test_writing_keeps_other_lines_and_the_export_prefix(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text('# mine\nexport FACEGATE_WEBHOOK_SECRET="abc"\nFACEGATE_WORKERS=1\nNO_NEWLINE=x')
    write_settings_file(
        env_file, {"FACEGATE_WEBHOOK_SECRET": "abc", "FACEGATE_FORM_URL": "https://f.example/#/x"}
    )
    assert env_file.read_text() == (
        "# mine\nexport FACEGATE_WEBHOOK_SECRET='abc'\nFACEGATE_WORKERS=1\nNO_NEWLINE=x\n"
        "FACEGATE_FORM_URL='https://f.example/#/x'\n"
    )
    assert read_settings_file(env_file)["FACEGATE_FORM_URL"] == "https://f.example/#/x"  # '#' is no comment


@pytest.mark.parametrize("value", ["it's", "back\\slash", 'say "hi"', "$HOME", "a#b", " spaced "])
def test_any_value_survives_a_round_trip(tmp_path: Path, value: str) -> None:
    env_file = tmp_path / ".env"
    write_settings_file(env_file, {"FACEGATE_WEBHOOK_SECRET": value})
    assert read_settings_file(env_file) == {"FACEGATE_WEBHOOK_SECRET": value}
    secret = Settings(_env_file=env_file).webhook_secret
    assert secret is not None and secret.get_secret_value() == value


def test_a_value_with_a_line_break_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsFileError, match="line break"):
        write_settings_file(tmp_path / ".env", {"A": "1\nB=2"})
    assert not (tmp_path / ".env").exists()


def test_a_new_file_is_private_and_facegates_own_file_made_private(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    write_settings_file(env_file, {"A": "1"})
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    env_file.chmod(0o644)
    write_settings_file(env_file, {"A": "2"})
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another uid needs root")
def test_someone_elses_file_keeps_its_mode_and_owner(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A bind-mounted .env belongs to the host's user: facegate writes it but does not chmod it.
    env_file = tmp_path / ".env"
    env_file.write_text("A=1\n")
    env_file.chmod(0o664)
    os.chown(env_file, 4242, 4242)
    inode = env_file.stat().st_ino
    with caplog.at_level(logging.WARNING):
        write_settings_file(env_file, {"A": "2"})
    info = env_file.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode), info.st_ino) == (4242, 0o664, inode)  # same file
    assert read_settings_file(env_file) == {"A": "2"}
    assert "should chmod 600 it" in caplog.text


def test_a_folder_where_the_file_should_be_is_explained(tmp_path: Path) -> None:
    # `docker run -v "$PWD/.env:..."` creates a folder when the file did not exist yet.
    (tmp_path / ".env").mkdir()
    with pytest.raises(SettingsFileError, match="is a folder"):
        check_writable(tmp_path / ".env")


def test_no_file_is_no_settings(tmp_path: Path) -> None:
    assert read_settings_file(tmp_path / "absent.env") == {}
