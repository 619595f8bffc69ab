"""The command line (app.cli). `facegate bootstrap`: its settings and credentials, and against the real
NocoDB, settings written once and kept on reruns. `facegate purge`: pending erasures finished, listed, or
refused for want of settings."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.cli import (
    PASSWORD_ENV,
    PURGE_ALL_DONE,
    PURGE_MISCONFIGURED,
    PURGE_SOME_LEFT,
    STATUS_UNHEALTHY,
    TOKEN_ENV_ALIAS,
    main,
    run_bootstrap,
    run_purge,
)
from app.commands.bootstrap import Changes
from app.commands.bootstrap.errors import BootstrapError
from app.commands.serve import server_command
from app.config import STORE_FILE, FieldNames, Settings
from app.erasure.claims import UploadSource
from app.erasure.files import locate
from app.erasure.service import KEPT_WHILE_LIVE, UNCONFIGURED_LOCAL
from app.erasure.store import PurgeRecord, PurgeState, PurgeTrigger
from app.moderation.rows import parse_row, row_key
from app.politicians.profiles import read_politicians
from app.settings_file import read_settings_file, write_settings_file
from harness.facegate import facegate_env
from harness.images import ROOT, SAMPLES
from harness.loop import ADMIN_EMAIL, ADMIN_PASSWORD, FIELDS
from harness.net import free_port
from harness.nocodb import LocalNocoDB
from tests.utils.erasure import files_in, on_disk
from tests.utils.fake_nocodb import BASE, TABLE, FakeNocoDB
from tests.utils.fake_nocodb import location as fake_location
from tests.utils.stores import fresh_stores

KEYS = {
    "FACEGATE_NOCODB_URL",
    "FACEGATE_NOCODB_API_TOKEN",
    "FACEGATE_NOCODB_TABLE_ID",
    "FACEGATE_WEBHOOK_SECRET",
    "FACEGATE_OPERATOR_API_KEY",
    "FACEGATE_FORM_URL",
}


# ``facegate politicians add`` for a minister the tests' references do not hold; the photos follow.
ADD_JANE_DOE = [
    *("politicians", "add", "jane-doe"),
    *("--name", "Jane Doe", "--role", "Minister", "--country", "Nowhere"),
]


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
    first = read_settings_file(env_file)
    assert set(first) >= KEYS and first["FACEGATE_WORKERS"] == "1"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "# mine" in env_file.read_text()
    _run(nocodb, env_file, public="https://forms.example.org/")
    second = read_settings_file(env_file)
    for key in (
        "FACEGATE_NOCODB_API_TOKEN",
        "FACEGATE_WEBHOOK_SECRET",
        "FACEGATE_OPERATOR_API_KEY",
        "FACEGATE_NOCODB_TABLE_ID",
    ):
        assert second[key] == first[key], key
    assert second["FACEGATE_FORM_URL"].startswith("https://forms.example.org/#/nc/form/")


def test_a_rerun_of_its_own_set_up_keeps_the_webhook_and_form_url_and_says_nothing_changed(
    nocodb: LocalNocoDB, tmp_path: Path
) -> None:
    env_file = tmp_path / ".env"

    def bootstrap(facegate_url: str | None = None, public_nocodb_url: str | None = None) -> list[str]:
        changes = Changes()
        asyncio.run(
            run_bootstrap(
                nocodb_url=nocodb.url,
                email=ADMIN_EMAIL,
                password=ADMIN_PASSWORD,
                env_file=env_file,
                reference_dir=ROOT / "reference_faces",
                base_title="cli-rerun",
                changes=changes,
                facegate_url=facegate_url,
                public_nocodb_url=public_nocodb_url,
            )
        )
        return changes.summary()

    first = bootstrap(facegate_url="http://facegate:8000", public_nocodb_url="https://forms.example.org")
    assert "created webhook 'facegate' to http://facegate:8000/webhooks/nocodb" in first
    form_url = read_settings_file(env_file)["FACEGATE_FORM_URL"]
    assert form_url.startswith("https://forms.example.org/#/nc/form/")
    # Without --facegate-url and --public-nocodb-url: the live webhook and the public form stay.
    assert bootstrap() == ["nothing changed"]
    assert read_settings_file(env_file)["FACEGATE_FORM_URL"] == form_url
    token = read_settings_file(env_file)["FACEGATE_NOCODB_API_TOKEN"]
    table_id = read_settings_file(env_file)["FACEGATE_NOCODB_TABLE_ID"]
    hooks = httpx.get(
        f"{nocodb.url}/api/v2/meta/tables/{table_id}/hooks", headers={"xc-token": token}, timeout=30
    ).json()["list"]
    notification = hooks[0]["notification"]
    payload = (json.loads(notification) if isinstance(notification, str) else notification)["payload"]
    assert payload["path"] == "http://facegate:8000/webhooks/nocodb"


def test_a_rerun_whose_settings_token_nocodb_refuses_signs_in_and_stays_on_its_table(
    nocodb: LocalNocoDB, tmp_path: Path
) -> None:
    """`make run` after NocoDB's data was reset keeps working: the admin signs in again, and facegate's
    own table is found (or made) as before, never a campaign's table attached to instead."""
    env_file = tmp_path / ".env"
    _run(nocodb, env_file)
    first = read_settings_file(env_file)
    write_settings_file(env_file, {"FACEGATE_NOCODB_API_TOKEN": "refused-by-nocodb"})
    _run(nocodb, env_file)
    second = read_settings_file(env_file)
    assert second["FACEGATE_NOCODB_API_TOKEN"] not in ("refused-by-nocodb", "")
    assert second["FACEGATE_NOCODB_TABLE_ID"] == first["FACEGATE_NOCODB_TABLE_ID"]


def test_env_file_updates_in_place(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    write_settings_file(env_file, {"A": "1", "B": "2"})
    write_settings_file(env_file, {"B": "3", "C": "4"})
    assert read_settings_file(env_file) == {"A": "1", "B": "3", "C": "4"}


def test_bootstrap_with_only_an_api_token(nocodb: LocalNocoDB, tmp_path: Path) -> None:
    first = tmp_path / "first.env"
    _run(nocodb, first)
    token = read_settings_file(first)["FACEGATE_NOCODB_API_TOKEN"]
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
    settings = read_settings_file(second)
    assert settings["FACEGATE_NOCODB_API_TOKEN"] == token
    assert settings["FACEGATE_NOCODB_TABLE_ID"] == read_settings_file(first)["FACEGATE_NOCODB_TABLE_ID"]


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


def test_a_rerun_takes_nocodbs_address_from_the_settings_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("FACEGATE_NOCODB_API_TOKEN", "NOCODB_API_TOKEN", "NOCODB_ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    env_file = tmp_path / "campaign.env"
    write_settings_file(env_file, {"FACEGATE_NOCODB_API_TOKEN": "tok-123"})
    with pytest.raises(SystemExit) as exited:  # no address anywhere: a usage error, nothing called
        main(["bootstrap", "--env-file", str(env_file)])
    assert exited.value.code == 2
    assert "give --nocodb-url" in capsys.readouterr().err
    write_settings_file(env_file, {"FACEGATE_NOCODB_URL": "http://nocodb:8080"})
    seen = _captured_bootstrap(monkeypatch)
    assert main(["bootstrap", "--env-file", str(env_file)]) == 1
    assert seen["nocodb_url"] == "http://nocodb:8080"
    assert main(["bootstrap", "--env-file", str(env_file), "--nocodb-url", "http://10.0.0.2:8080"]) == 1
    assert seen["nocodb_url"] == "http://10.0.0.2:8080"  # given, it wins


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
    written = read_settings_file(env_file)
    assert (
        written["FACEGATE_NOCODB_IMAGE_FIELD"],
        written["FACEGATE_NOCODB_POLITICIAN_FIELD"],
        written["FACEGATE_NOCODB_STATUS_FIELD"],
    ) == ("Image", "Politician", "Status")


# ------------------------------------------------------------------------- facegate purge
# A fake NocoDB (httpx.MockTransport) and a real folder shaped like NocoDB's uploads and thumbnails.


def _purge_settings(tmp_path: Path, uploads_dir: Path | None) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        nocodb_url=BASE,
        nocodb_api_token="token",
        nocodb_table_id=TABLE,
        nocodb_uploads_dir=uploads_dir,
    )


def _deleted_while_unconfigured(
    tmp_path: Path, fake: FakeNocoDB, row: dict[str, Any], *, own: bool = True
) -> PurgeRecord:
    """The service deleted ``row`` while FACEGATE_NOCODB_UPLOADS_DIR was unset: its purge waits, with
    the locations of its files, as ``Eraser`` logs it; the files were the upload's ``own``, as
    provenance proved them when it was decided."""
    del fake.rows[row["Id"]]
    key = f"k{row['Id']}"
    locations = [location for a in row["Image"] if (location := locate(a)) is not None]
    with fresh_stores(tmp_path / "data" / STORE_FILE) as stores:
        for where in locations if own else []:
            stores.claims.claim(
                location=where, row_key=key, table_id=TABLE, row_id=row["Id"], source=UploadSource.FORM
            )
        return stores.purges.record(
            row_key=key,
            table_id=TABLE,
            row_id=row["Id"],
            trigger=PurgeTrigger.DELETED,
            state=PurgeState.PENDING,
            locations=locations,
            files=0,
            bytes_removed=0,
            detail=UNCONFIGURED_LOCAL,
        )


def _purge(tmp_path: Path, fake: FakeNocoDB, *, dry_run: bool = False) -> int:
    settings = _purge_settings(tmp_path, tmp_path / "nc" / "uploads")
    return asyncio.run(
        run_purge(settings, dry_run=dry_run, nocodb_transport=httpx.MockTransport(fake.handler))
    )


def _purge_log(tmp_path: Path) -> list[PurgeRecord]:
    with fresh_stores(tmp_path / "data" / STORE_FILE) as stores:
        return [r for key in ("k1", "k2") if (r := stores.purges.for_row(key)) is not None]


def test_purge_finishes_what_waited_for_the_upload_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeNocoDB()
    deleted = fake.add(1, "obama", ("cat.png", b"cat bytes"))
    fake.add(2, "obama", ("a.jpg", b"approved"))
    on_disk(fake, tmp_path / "nc")
    _deleted_while_unconfigured(tmp_path, fake, deleted)
    assert _purge(tmp_path, fake) == PURGE_ALL_DONE
    assert files_in(tmp_path / "nc") == {
        f"uploads/{fake_location(2, 'a.jpg')}",
        f"thumbnails/{fake_location(2, 'a.jpg')}/tiny.jpg",
    }
    (record,) = _purge_log(tmp_path)
    assert record.state is PurgeState.DONE and record.locations == [] and record.detail is None
    assert (record.files, record.bytes) == (2, len(b"cat bytes") + len(b"thumb"))
    assert fake.actions() == []  # it only asked NocoDB whether the row is gone
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "row 1: done, 2 files, 14 bytes",
        "1 pending purges retried: 1 done, 0 still pending, 0 refused",
    ]
    assert _purge(tmp_path, fake) == PURGE_ALL_DONE  # nothing pending any more


def test_purge_dry_run_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeNocoDB()
    deleted = fake.add(1, "obama", ("cat.png", b"cat bytes"))
    on_disk(fake, tmp_path / "nc")
    before = _deleted_while_unconfigured(tmp_path, fake, deleted)
    files, calls = files_in(tmp_path / "nc"), len(fake.calls)
    assert _purge(tmp_path, fake, dry_run=True) == PURGE_SOME_LEFT
    assert files_in(tmp_path / "nc") == files and len(fake.calls) == calls  # not even a read
    assert _purge_log(tmp_path) == [before]
    out = capsys.readouterr().out
    assert "row 1: would retry 1 location(s); pending: FACEGATE_NOCODB_UPLOADS_DIR is not set" in out
    assert "1 pending purges would be retried (dry run: nothing changed)" in out


def test_purge_keeps_a_file_a_live_row_still_uses(tmp_path: Path) -> None:
    # A forged row pointing at a live row's file was deleted: erasing it must not take the live row's file.
    fake = FakeNocoDB()
    live = fake.add(1, "obama", ("a.jpg", b"approved"))
    on_disk(fake, tmp_path / "nc")
    forged = fake.add(2, "biden")
    forged["Image"] = live["Image"]
    _deleted_while_unconfigured(tmp_path, fake, forged, own=False)  # provenance refused it
    assert _purge(tmp_path, fake) == PURGE_ALL_DONE
    assert (tmp_path / "nc/uploads" / fake_location(1, "a.jpg")).read_bytes() == b"approved"
    (record,) = _purge_log(tmp_path)
    assert record.state is PurgeState.DONE and record.files == 0
    assert "not this upload's own" in (record.detail or "")


def test_purge_looks_again_at_what_was_kept_while_the_row_was_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An approval withdrawn while its row stayed in NocoDB: kept, no failure; erased once the row is gone.
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", b"approved once"))
    on_disk(fake, tmp_path / "nc")
    key, where = row_key(TABLE, parse_row(row, FIELDS)), fake_location(1, "a.jpg")
    with fresh_stores(tmp_path / "data" / STORE_FILE) as stores:
        stores.claims.claim(location=where, row_key=key, table_id=TABLE, row_id=1, source=UploadSource.FORM)
        stores.purges.record(
            row_key=key,
            table_id=TABLE,
            row_id=1,
            trigger=PurgeTrigger.NOT_APPROVED,
            state=PurgeState.KEPT,
            locations=[where],
            files=0,
            bytes_removed=0,
            detail=KEPT_WHILE_LIVE,
        )
    assert _purge(tmp_path, fake, dry_run=True) == PURGE_ALL_DONE
    assert f"row 1: would retry 1 location(s); kept: {KEPT_WHILE_LIVE}" in capsys.readouterr().out
    assert _purge(tmp_path, fake) == PURGE_ALL_DONE  # the row is still there, in review
    assert capsys.readouterr().out.endswith(", 1 kept (the row is still in NocoDB)\n") and files_in(
        tmp_path / "nc"
    )
    del fake.rows[1]
    assert _purge(tmp_path, fake) == PURGE_ALL_DONE
    assert files_in(tmp_path / "nc") == set()
    with fresh_stores(tmp_path / "data" / STORE_FILE) as stores:
        record = stores.purges.for_row(key)
    assert record is not None and (record.state, record.files) == (PurgeState.DONE, 2)


def test_purge_leaves_pending_what_it_still_cannot_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeNocoDB()
    deleted = fake.add(1, "obama", ("cat.png", b"cat bytes"))
    on_disk(fake, tmp_path / "nc")
    before = _deleted_while_unconfigured(tmp_path, fake, deleted)
    fake.fail_with = 401  # NocoDB cannot be asked which rows still use the file
    assert _purge(tmp_path, fake) == PURGE_SOME_LEFT
    (record,) = _purge_log(tmp_path)
    assert record.state is PurgeState.PENDING and record.locations == before.locations
    assert "NocoDB could not be asked" in (record.detail or "") and files_in(tmp_path / "nc")
    assert capsys.readouterr().out.endswith("1 pending purges retried: 0 done, 1 still pending, 0 refused\n")


def test_purge_refuses_to_run_without_its_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    for name in ("FACEGATE_NOCODB_URL", "FACEGATE_NOCODB_API_TOKEN", "FACEGATE_NOCODB_TABLE_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FACEGATE_DATA_DIR", str(tmp_path / "data"))
    assert main(["purge"]) == PURGE_MISCONFIGURED
    assert (
        "FACEGATE_NOCODB_URL, FACEGATE_NOCODB_API_TOKEN, FACEGATE_NOCODB_TABLE_ID not set"
        in capsys.readouterr().err
    )
    monkeypatch.setenv("FACEGATE_NOCODB_URL", BASE)
    monkeypatch.setenv("FACEGATE_NOCODB_API_TOKEN", "token")
    monkeypatch.setenv("FACEGATE_NOCODB_TABLE_ID", TABLE)
    assert main(["purge", "--dry-run"]) == PURGE_MISCONFIGURED  # no facegate database there
    assert "no facegate database at" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()  # and none was created
    monkeypatch.setenv("FACEGATE_TOLERANCE", "not a number")
    assert main(["purge"]) == PURGE_MISCONFIGURED


def test_purge_dry_run_from_the_command_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeNocoDB()
    _deleted_while_unconfigured(tmp_path, fake, fake.add(1, "obama", ("cat.png", b"cat bytes")))
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "FACEGATE_DATA_DIR": str(tmp_path / "data"),
        "FACEGATE_NOCODB_URL": BASE,
        "FACEGATE_NOCODB_API_TOKEN": "token",
        "FACEGATE_NOCODB_TABLE_ID": TABLE,
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["purge", "--dry-run"]) == PURGE_SOME_LEFT
    assert "row 1: would retry 1 location(s)" in capsys.readouterr().out


# ------------------------------------------------------------------------- the command line itself


@pytest.fixture
def operator_shell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An operator's shell in an empty folder: no .env, no facegate settings but a private data folder."""
    for name in [k for k in os.environ if k.startswith("FACEGATE_")] + [TOKEN_ENV_ALIAS, PASSWORD_ENV]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FACEGATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FACEGATE_WORKERS", "1")
    return tmp_path


def test_version_and_help_explain_the_options_and_the_environment(
    operator_shell: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out.strip() == "facegate 0.1.0"
    with pytest.raises(SystemExit):
        main(["bootstrap", "--help"])
    help_text = capsys.readouterr().out
    for words in ("--table-id", "--image-field", "--politician-field", "--status-field", "--env-file"):
        assert words in help_text
    for variable in ("NOCODB_API_TOKEN", "FACEGATE_NOCODB_API_TOKEN", "NOCODB_ADMIN_PASSWORD", "FACEGATE_*"):
        assert variable in help_text


def test_invalid_settings_are_one_line(operator_shell: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (operator_shell / ".env").write_text("FACEGATE_TOLERANCE='a lot'\n")
    assert main(["politicians", "check"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("facegate politicians check: invalid settings: FACEGATE_TOLERANCE: ")


def test_a_broken_reference_folder_is_one_line(
    operator_shell: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (operator_shell / "refs" / "jane").mkdir(parents=True)
    assert main(["politicians", "check", "--reference-dir", str(operator_shell / "refs")]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line == f"facegate politicians check: {operator_shell / 'refs/jane/profile.toml'}: missing."


def test_an_unreachable_nocodb_is_one_line(operator_shell: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.environ[TOKEN_ENV_ALIAS] = "t" * 40  # removed by operator_shell's monkeypatch afterwards
    argv = ["bootstrap", "--nocodb-url", f"http://127.0.0.1:{free_port()}", "--table-id", "m1"]
    assert main(argv) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("facegate bootstrap: NocoDB is not reachable at http://127.0.0.1:")
    assert not any("Traceback" in line for line in err) and not (operator_shell / ".env").exists()


def test_status_from_the_command_line_exits_non_zero_when_unhealthy(
    operator_shell: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--url", f"http://127.0.0.1:{free_port()}"]) == STATUS_UNHEALTHY
    out = capsys.readouterr().out.splitlines()
    missing = operator_shell / "reference_faces"  # the current folder's, as .env is
    assert out[1] == f"references  FAIL  not_ready: {missing}: the reference folder does not exist."
    assert out[-1] == "unhealthy: not_ready, service_down, no_database"


# The reference audit, with the real face engine (encodings cached in the session's data folder).


@pytest.fixture(scope="module")
def audit_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit-data")


def _references(folder: Path, wrong: str | None = None) -> Path:
    shutil.copytree(ROOT / "reference_faces", folder)
    if wrong is not None:
        shutil.copy(SAMPLES / "biden.jpg", folder / "obama" / wrong)
    return folder


def test_politicians_check_reports_and_names_a_wrong_photo(
    operator_shell: Path,
    audit_data: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FACEGATE_DATA_DIR", str(audit_data))
    good = _references(operator_shell / "good")
    assert main(["politicians", "check", "--reference-dir", str(good)]) == 0
    captured = capsys.readouterr()
    assert "good/obama/obama3.jpg: 1 face, 0." in captured.out
    assert "good/biden/biden.jpg: 1 face, no other photo to compare" in captured.out
    assert re.search(r"biden - obama: 0\.\d{3} \(good/biden/biden.jpg, good/obama/obama", captured.out)
    assert captured.out.endswith("2 politicians, 3 photos: no problem\n")
    assert "[3/3] good/obama/obama3.jpg: 1 face" in captured.err  # progress, on stderr
    # Too few photos for a calibration to trust: a note, not a problem.
    assert "note: biden has 1 reference photo, fewer than the 3 its calibration needs" in captured.out
    assert "was calibrated on" not in captured.out  # the demo profiles: as their folders are

    # A photo added since the calibration: calibrate again.
    grown = _references(operator_shell / "grown")
    shutil.copy(SAMPLES / "obama2.jpg", grown / "obama" / "obama2.jpg")
    assert main(["politicians", "check", "--reference-dir", str(grown)]) == 0
    assert (
        "note: obama was calibrated on 2 reference photos and 1 other politician; the folder now holds"
        " 3 reference photos and 1 other politician: run facegate politicians calibrate obama"
    ) in capsys.readouterr().out

    bad = _references(operator_shell / "bad", wrong="new.jpg")
    assert main(["politicians", "check", "--reference-dir", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "problem: bad/obama/new.jpg: 0.8" in out and "probably someone else" in out
    assert "problem: bad/biden/biden.jpg and bad/obama/new.jpg: biden and obama are 0.000 apart" in out
    assert out.endswith("2 politicians, 4 photos: 2 problems\n")


def test_politicians_add_checks_before_it_writes(
    operator_shell: Path,
    audit_data: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FACEGATE_DATA_DIR", str(audit_data))
    refs = _references(operator_shell / "refs")
    monkeypatch.setenv("FACEGATE_REFERENCE_DIR", str(refs))
    before = sorted(p.relative_to(refs) for p in refs.rglob("*"))
    # Obama's photo under another name: two politicians within the tolerance. Nothing is written.
    assert main([*ADD_JANE_DOE, str(SAMPLES / "obama2.jpg")]) == 1
    out = capsys.readouterr().out
    assert "jane-doe and obama are" in out and out.endswith("nothing written: jane-doe was not added\n")
    # A cat: no face.
    assert main([*ADD_JANE_DOE, str(SAMPLES / "cat.png")]) == 1
    assert f"problem: {SAMPLES / 'cat.png'}: no face found" in capsys.readouterr().out
    # A display name that is someone else's.
    assert main([*ADD_JANE_DOE[:4], "barack obama", *ADD_JANE_DOE[5:], str(SAMPLES / "astronaut.png")]) == 1
    assert "names both 'obama' and 'jane-doe'" in capsys.readouterr().err
    assert sorted(p.relative_to(refs) for p in refs.rglob("*")) == before

    # A rule given by hand is written as given, and no calibration runs.
    hand = ["--tolerance", "0.5", "--review-band", "0.05"]
    assert main([*ADD_JANE_DOE, "--form-label", "Minister Doe", *hand, str(SAMPLES / "astronaut.png")]) == 0
    out = capsys.readouterr().out
    assert "added jane-doe" in out and "deepfakes" not in out
    (jane,) = [p for p in read_politicians(refs) if p.slug == "jane-doe"]
    assert (jane.profile.name, jane.profile.form_label, jane.profile.tolerance) == (
        "Jane Doe",
        "Minister Doe",
        0.5,
    )
    assert jane.profile.review_band == 0.05
    assert [p.name for p in jane.photos] == ["astronaut.png"]
    assert (refs / "jane-doe" / "astronaut.png").read_bytes() == (SAMPLES / "astronaut.png").read_bytes()
    assert main([*ADD_JANE_DOE, str(SAMPLES / "astronaut.png")]) == 1  # it exists now
    assert "exists already" in capsys.readouterr().err


def test_politicians_add_refuses_a_control_character_in_one_line_and_leaves_nothing(
    operator_shell: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refs = _references(operator_shell / "refs")
    before = sorted(p.relative_to(refs) for p in refs.rglob("*"))
    add = [
        "politicians",
        "add",
        "jane",
        "--name",
        "Jane\x7fDoe",
        "--role",
        "Minister",
        "--country",
        "Nowhere",
    ]
    assert main([*add, "--reference-dir", str(refs), str(SAMPLES / "astronaut.png")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("facegate politicians add: --name: ") and "control character" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert sorted(p.relative_to(refs) for p in refs.rglob("*")) == before  # no hidden .jane.adding either


def test_politicians_add_from_another_folder_writes_into_that_folders_reference_faces(
    operator_shell: Path, audit_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No FACEGATE_REFERENCE_DIR: the default is ./reference_faces of the current folder, like .env.
    monkeypatch.setenv("FACEGATE_DATA_DIR", str(audit_data))
    assert main([*ADD_JANE_DOE, str(SAMPLES / "astronaut.png")]) == 0
    assert (operator_shell / "reference_faces" / "jane-doe" / "profile.toml").is_file()
    assert not (ROOT / "reference_faces" / "jane-doe").exists()


def test_politicians_calibrate_names_who(operator_shell: Path, capsys: pytest.CaptureFixture[str]) -> None:
    refs = _references(operator_shell / "refs")
    assert main(["politicians", "calibrate", "--reference-dir", str(refs)]) == 1
    assert capsys.readouterr().err == (
        "facegate politicians calibrate: name the politicians to calibrate, or give --all\n"
    )
    assert main(["politicians", "calibrate", "jane", "--reference-dir", str(refs)]) == 1
    assert capsys.readouterr().err == (
        "facegate politicians calibrate: no such politician: jane (known: biden, obama)\n"
    )


# facegate serve: what the image runs.


def test_serve_replaces_itself_by_uvicorn_with_facegates_flags(operator_shell: Path) -> None:
    assert server_command("0.0.0.0", 8000)[1:] == [
        "-m", "uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000",
        "--timeout-graceful-shutdown", "30", "--no-access-log", "--no-proxy-headers",
    ]  # fmt: skip
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEGATE_")} | facegate_env(
        operator_shell
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        cwd=operator_shell,
        env=env | {"PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            assert process.poll() is None, "facegate serve exited"
            time.sleep(0.3)
        else:
            raise AssertionError("facegate serve never got ready")
        # The same process is uvicorn now (exec): docker stop's SIGTERM reaches it directly.
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
        assert b"uvicorn" in cmdline and b"--no-proxy-headers" in cmdline
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught as its exit status.
        assert process.wait(60) == -signal.SIGTERM
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# ------------------------------------------------------------------------- as the image's user
# The image runs as uid 10001; a settings file bind-mounted from the host belongs to the host's user.
# Python itself lives under /root here, which uid 10001 may not read: the command runs in a fork of
# this process (everything it needs already imported) that has given up root.

IMAGE_UID = 10001
HOST_UID = 4242


def _as_image_user(argv: list[str], workdir: Path) -> tuple[int, str]:
    """``main(argv)`` in ``workdir`` as uid 10001; its exit code and what it printed."""
    output = workdir / "output.txt"
    with output.open("w") as sink:
        os.chown(output, IMAGE_UID, IMAGE_UID)
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 70
            try:
                os.setgroups([])
                os.setgid(IMAGE_UID)
                os.setuid(IMAGE_UID)
                sys.stdout = sys.stderr = sink
                code = main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 2
            except BaseException as exc:  # report anything else, never run pytest's code
                sink.write(f"child crashed: {exc!r}\n")
            finally:
                sink.flush()
                os._exit(code)
        deadline = time.monotonic() + 120
        while (status := os.waitpid(pid, os.WNOHANG)) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise AssertionError(f"stuck: {output.read_text()}")
            time.sleep(0.1)
    return os.waitstatus_to_exitcode(status[1]), output.read_text()


@pytest.fixture
def shared_folder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder both users can reach (pytest's own temporary folders are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="facegate-uid-"))
    folder.chmod(0o777)
    monkeypatch.chdir(folder)
    for name in [k for k in os.environ if k.startswith("FACEGATE_")] + [PASSWORD_ENV]:
        monkeypatch.delenv(name, raising=False)
    yield folder
    shutil.rmtree(folder)


@pytest.mark.skipif(os.geteuid() != 0, reason="acting as uid 10001 needs root")
def test_bootstrap_as_the_image_user_writes_a_host_users_settings_file(
    nocodb: LocalNocoDB, shared_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = shared_folder / "setup.env"
    _run(nocodb, setup)  # a table to attach to, and every import the child needs
    settings = read_settings_file(setup)
    monkeypatch.setenv(TOKEN_ENV_ALIAS, settings["FACEGATE_NOCODB_API_TOKEN"])
    mounted = shared_folder / ".env"
    argv = ["bootstrap", "--nocodb-url", nocodb.url, "--table-id", settings["FACEGATE_NOCODB_TABLE_ID"]]
    argv += ["--facegate-url", "http://127.0.0.1:9", "--env-file", str(mounted)]

    # The host user's private file: refused in one line, before NocoDB is asked anything.
    mounted.write_text("FACEGATE_WORKERS=1\n")
    os.chown(mounted, HOST_UID, HOST_UID)
    mounted.chmod(0o600)
    code, printed = _as_image_user(argv, shared_folder)
    assert code == 1, printed
    (line,) = printed.splitlines()
    assert line.startswith("facegate bootstrap: cannot read the settings file")
    assert f"belongs to uid {HOST_UID}, and facegate runs as uid {IMAGE_UID}" in line

    # Shared with the container's user: written in place, its owner and mode kept; the quoted,
    # exported secret reaches NocoDB's webhook header without its quotes.
    mounted.chmod(0o666)
    mounted.write_text('# campaign\nexport FACEGATE_WEBHOOK_SECRET="s3cret"\n')
    inode = mounted.stat().st_ino
    code, printed = _as_image_user(argv, shared_folder)
    assert code == 0, printed
    assert "updated webhook 'facegate': secret header replaced" in printed.splitlines()
    info = mounted.stat()
    assert (info.st_ino, info.st_uid, stat.S_IMODE(info.st_mode)) == (inode, HOST_UID, 0o666)
    text = mounted.read_text()
    assert text.startswith("# campaign\nexport FACEGATE_WEBHOOK_SECRET='s3cret'\n")
    with httpx.Client(
        base_url=nocodb.url, headers={"xc-token": settings["FACEGATE_NOCODB_API_TOKEN"]}
    ) as api:
        hooks = api.get(f"/api/v2/meta/tables/{settings['FACEGATE_NOCODB_TABLE_ID']}/hooks").json()["list"]
    (hook,) = hooks
    notification = (
        json.loads(hook["notification"]) if isinstance(hook["notification"], str) else hook["notification"]
    )
    assert notification["payload"]["headers"][0]["value"] == "s3cret"
