"""Attaching facegate to a campaign's own table and form, against the real NocoDB (issue 13).

The campaign made its table by hand before facegate came: a "Minister" select of display names, a
"Picture" attachment, no Status, its own shared form, and rows already submitted. One command
attaches facegate; a second changes nothing; the old rows are decided by the sweep, and a form
submission naming "Barack Obama" is decided against ``obama``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.cli import main
from app.commands.bootstrap.nocodb import attach
from app.commands.bootstrap.webhook import HOOK_TITLE, SECRET_HEADER
from app.config import FieldNames, RejectAction
from app.moderation.act import MODERATION_STATUSES
from app.moderation.rows import parse_row, row_key
from app.moderation.stamps import StampKey
from app.settings_file import read_settings_file
from harness.facegate import FacegateServer, facegate_env, running_facegate
from harness.images import ROOT, sample
from harness.loop import bootstrap_base, nocodb_api
from harness.net import free_port
from harness.nocodb import LocalNocoDB

DECIDE_SECONDS = 90.0
MINISTERS = ("Barack Obama", "Joe Biden")


@dataclass(frozen=True)
class Campaign:
    """The campaign's NocoDB as it was before facegate: its token, base, table, form and rows."""

    token: str
    base_id: str
    table_id: str
    form_id: str
    form_uuid: str
    rows: dict[str, int]  # what each pre-existing row is, by its Id


def _ok(response: httpx.Response) -> Any:
    assert response.is_success, f"{response.request.method} {response.request.url}: {response.text[:300]}"
    return response.json()


def _picture(api: httpx.Client, name: str) -> list[dict[str, Any]]:
    stored: list[dict[str, Any]] = _ok(
        api.post("/api/v2/storage/upload", files={"files": (name, sample(name), "image/jpeg")})
    )
    return stored


@pytest.fixture(scope="module")
def campaign(nocodb: LocalNocoDB) -> Campaign:
    """What a campaign makes in NocoDB's UI, made through the same API: no facegate involved."""
    token = bootstrap_base(nocodb.url, "http://127.0.0.1:9", base_title="facegate-token-only").api_token
    with nocodb_api(nocodb.url, token) as api:
        base_id = _ok(api.post("/api/v2/meta/bases", json={"title": "Campaign"}))["id"]
        columns = [
            {
                "title": "Minister",
                "uidt": "SingleSelect",
                "colOptions": {"options": [{"title": m} for m in MINISTERS]},
            },
            {"title": "Picture", "uidt": "Attachment"},
            {"title": "Comment", "uidt": "LongText"},
        ]
        table_id = _ok(
            api.post(f"/api/v2/meta/bases/{base_id}/tables", json={"title": "Deepfakes", "columns": columns})
        )["id"]
        form_id = _ok(
            api.post(f"/api/v2/meta/tables/{table_id}/forms", json={"title": "Send us your deepfake"})
        )["id"]
        form_uuid = _ok(api.post(f"/api/v2/meta/views/{form_id}/share"))["uuid"]
        before = [
            ("obama as obama", {"Minister": "Barack Obama", "Picture": _picture(api, "obama2.jpg")}),
            ("obama as biden", {"Minister": "Joe Biden", "Picture": _picture(api, "obama2.jpg")}),
        ]
        ids = _ok(api.post(f"/api/v2/tables/{table_id}/records", json=[cells for _, cells in before]))
    return Campaign(
        token,
        base_id,
        table_id,
        form_id,
        form_uuid,
        {what: r["Id"] for (what, _), r in zip(before, ids, strict=True)},
    )


def _attach_command(nocodb: LocalNocoDB, campaign: Campaign, env_file: Path, facegate_url: str) -> list[str]:
    return [
        "bootstrap",
        "--nocodb-url",
        nocodb.url,
        "--table-id",
        campaign.table_id,
        "--politician-field",
        "Minister",
        "--image-field",
        "Picture",
        "--facegate-url",
        facegate_url,
        "--env-file",
        str(env_file),
    ]


@dataclass(frozen=True)
class Attached:
    env_file: Path
    facegate_url: str
    first_output: str
    second_output: str


@pytest.fixture(scope="module")
def attached(nocodb: LocalNocoDB, campaign: Campaign, tmp_path_factory: pytest.TempPathFactory) -> Attached:
    """``facegate bootstrap --table-id`` run twice, as an operator would, from an empty folder."""
    workdir = tmp_path_factory.mktemp("operator")
    references = workdir / "reference_faces"
    shutil.copytree(ROOT / "reference_faces", references)
    env_file = workdir / "campaign.env"
    facegate_url = f"http://127.0.0.1:{free_port()}"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        for name in ("FACEGATE_NOCODB_API_TOKEN", "NOCODB_ADMIN_PASSWORD"):
            patch.delenv(name, raising=False)
        patch.setenv("NOCODB_API_TOKEN", campaign.token)
        patch.setenv("FACEGATE_REFERENCE_DIR", str(references))
        first_output = _captured(
            workdir / "first.txt", _attach_command(nocodb, campaign, env_file, facegate_url)
        )
        settings = read_settings_file(env_file)
        second_output = _captured(
            workdir / "second.txt", _attach_command(nocodb, campaign, env_file, facegate_url)
        )
        assert read_settings_file(env_file) == settings  # the rerun keeps secrets and ids
    return Attached(env_file, facegate_url, first_output, second_output)


def _captured(capture: Path, argv: list[str]) -> str:
    """What ``facegate`` prints on stdout and stderr, once it exited 0."""
    with capture.open("w") as out, pytest.MonkeyPatch.context() as streams:
        streams.setattr("sys.stdout", out)
        streams.setattr("sys.stderr", out)
        assert main(argv) == 0, capture.read_text()
    return capture.read_text()


def _meta(nocodb: LocalNocoDB, campaign: Campaign, path: str) -> Any:
    with nocodb_api(nocodb.url, campaign.token) as api:
        return _ok(api.get(path))


def test_attach_adds_status_hides_it_and_installs_one_webhook(
    nocodb: LocalNocoDB, campaign: Campaign, attached: Attached
) -> None:
    settings = read_settings_file(attached.env_file)
    assert settings["FACEGATE_NOCODB_TABLE_ID"] == campaign.table_id
    assert (
        settings["FACEGATE_NOCODB_IMAGE_FIELD"],
        settings["FACEGATE_NOCODB_POLITICIAN_FIELD"],
        settings["FACEGATE_NOCODB_STATUS_FIELD"],
    ) == ("Picture", "Minister", "Status")
    assert settings["FACEGATE_FORM_URL"] == f"{nocodb.url}/#/nc/form/{campaign.form_uuid}"
    assert settings["FACEGATE_NOCODB_API_TOKEN"] == campaign.token

    columns = {
        c["title"]: c for c in _meta(nocodb, campaign, f"/api/v2/meta/tables/{campaign.table_id}")["columns"]
    }
    status = columns["Status"]
    assert status["uidt"] == "SingleSelect"
    assert [o["title"] for o in status["colOptions"]["options"]] == list(MODERATION_STATUSES)
    # The campaign's select is left as it was: its display names stand for facegate's politicians.
    assert [o["title"] for o in columns["Minister"]["colOptions"]["options"]] == list(MINISTERS)

    form = _meta(nocodb, campaign, f"/api/v2/meta/forms/{campaign.form_id}")
    shown = {fc["fk_column_id"]: bool(fc["show"]) for fc in form["columns"]}
    assert shown[status["id"]] is False
    assert shown[columns["Minister"]["id"]] and shown[columns["Picture"]["id"]]  # the campaign's choice

    hooks = _meta(nocodb, campaign, f"/api/v2/meta/tables/{campaign.table_id}/hooks")["list"]
    assert [h["title"] for h in hooks] == [HOOK_TITLE]
    assert hooks[0]["operation"] == ["insert", "update", "delete"]
    notification = (
        json.loads(hooks[0]["notification"])
        if isinstance(hooks[0]["notification"], str)
        else hooks[0]["notification"]
    )
    assert notification["payload"]["path"] == f"{attached.facegate_url}/webhooks/nocodb"
    (header,) = notification["payload"]["headers"]
    assert (header["name"], header["value"]) == (SECRET_HEADER, settings["FACEGATE_WEBHOOK_SECRET"])

    # No table or base was made: the campaign's base still holds its one table.
    tables = _meta(nocodb, campaign, f"/api/v2/meta/bases/{campaign.base_id}/tables")["list"]
    assert [t["title"] for t in tables] == ["Deepfakes"]
    # Its steps were logged, and each change printed on a line of its own.
    assert "attaching to table 'Deepfakes'" in attached.first_output
    lines = attached.first_output.splitlines()
    assert "added column 'Status' (SingleSelect)" in lines
    assert "hid 'Status' in form 'Send us your deepfake'" in lines
    assert f"created webhook 'facegate' to {attached.facegate_url}/webhooks/nocodb" in lines
    assert f"{attached.env_file}: FACEGATE_NOCODB_TABLE_ID set to {campaign.table_id}" in lines
    assert f"{attached.env_file}: FACEGATE_WEBHOOK_SECRET set (secret)" in lines
    # The rerun changed nothing, and said so.
    assert "nothing changed" in attached.second_output.splitlines()
    assert not any(
        line.startswith(("added", "hid", "created", "updated"))
        for line in attached.second_output.splitlines()
    )


def test_a_second_facegate_webhook_is_removed_and_status_cannot_be_submitted(
    nocodb: LocalNocoDB, campaign: Campaign, attached: Attached
) -> None:
    settings = read_settings_file(attached.env_file)
    with nocodb_api(nocodb.url, campaign.token) as api:
        (hook,) = _ok(api.get(f"/api/v2/meta/tables/{campaign.table_id}/hooks"))["list"]
        copy = {k: hook[k] for k in ("title", "version", "event", "operation", "active")}
        copy["notification"] = (
            json.loads(hook["notification"])
            if isinstance(hook["notification"], str)
            else hook["notification"]
        )
        _ok(api.post(f"/api/v2/meta/tables/{campaign.table_id}/hooks", json=copy))
        assert len(_ok(api.get(f"/api/v2/meta/tables/{campaign.table_id}/hooks"))["list"]) == 2
    result = asyncio.run(
        attach(
            base_url=nocodb.url,
            api_token=campaign.token,
            table_id=campaign.table_id,
            facegate_url=attached.facegate_url,
            webhook_secret=settings["FACEGATE_WEBHOOK_SECRET"],
            politicians=["obama", "biden"],
            fields=FieldNames(image="Picture", politician="Minister"),
            action=RejectAction.DELETE,
        )
    )
    hooks = _meta(nocodb, campaign, f"/api/v2/meta/tables/{campaign.table_id}/hooks")["list"]
    assert [h["id"] for h in hooks] == [result.hook_id]


@pytest.fixture(scope="module")
def facegate(
    nocodb: LocalNocoDB, attached: Attached, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FacegateServer]:
    workdir = tmp_path_factory.mktemp("facegate-attached")
    env = facegate_env(workdir) | read_settings_file(attached.env_file)
    env["FACEGATE_NOCODB_UPLOADS_DIR"] = str(nocodb.uploads_dir)
    port = int(attached.facegate_url.rsplit(":", 1)[1])
    with running_facegate(workdir, env, port) as server:
        yield server


def _final(nocodb: LocalNocoDB, campaign: Campaign, row_id: int, server: FacegateServer) -> str:
    """'approved' or 'deleted', once facegate has decided the row."""
    deadline = time.monotonic() + DECIDE_SECONDS
    with nocodb_api(nocodb.url, campaign.token) as api:
        while time.monotonic() < deadline:
            response = api.get(f"/api/v2/tables/{campaign.table_id}/records/{row_id}")
            if response.status_code == 404 or not response.json():
                return "deleted"
            if response.json().get("Status") == "approved":
                return "approved"
            time.sleep(0.2)
    raise AssertionError(f"row {row_id} undecided:\n{server.log_tail()}")


def _decision(server: FacegateServer, row_id: int, env_file: Path) -> dict[str, Any]:
    key = read_settings_file(env_file)["FACEGATE_OPERATOR_API_KEY"]
    response = httpx.get(
        f"{server.url}/decisions", params={"row_id": row_id}, headers={"X-API-Key": key}, timeout=10
    )
    items: list[dict[str, Any]] = _ok(response)["items"]
    assert items, f"no decision for row {row_id}"
    return items[0]


def test_rows_from_before_facegate_are_decided_by_the_sweep(
    nocodb: LocalNocoDB,
    campaign: Campaign,
    attached: Attached,
    facegate: FacegateServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # They are the table's backlog: held until the operator confirms it (issue 22).
    assert read_settings_file(attached.env_file)["FACEGATE_BACKLOG_BEFORE"]
    monkeypatch.chdir(tmp_path)
    for name, value in facegate.env.items():
        monkeypatch.setenv(name, value)
    assert main(["backlog", "--apply"]) == 0
    assert _final(nocodb, campaign, campaign.rows["obama as obama"], facegate) == "approved"
    assert _final(nocodb, campaign, campaign.rows["obama as biden"], facegate) == "deleted"
    decided = _decision(facegate, campaign.rows["obama as biden"], attached.env_file)
    assert (decided["politician"], decided["reason"]) == ("biden", "no_match")


def test_attach_adds_the_stamp_column_hidden_and_a_stamp_secret(
    nocodb: LocalNocoDB, campaign: Campaign, attached: Attached
) -> None:
    settings = read_settings_file(attached.env_file)
    assert settings["FACEGATE_NOCODB_STAMP_FIELD"] == "Facegate stamp"
    assert len(settings["FACEGATE_STAMP_SECRET"]) >= 32
    columns = _meta(nocodb, campaign, f"/api/v2/meta/tables/{campaign.table_id}")["columns"]
    (stamp,) = [c for c in columns if c["title"] == "Facegate stamp"]
    assert stamp["uidt"] == "SingleLineText"
    form = _meta(nocodb, campaign, f"/api/v2/meta/forms/{campaign.form_id}")
    assert {fc["fk_column_id"]: bool(fc["show"]) for fc in form["columns"]}[stamp["id"]] is False
    lines = attached.first_output.splitlines()
    assert "added column 'Facegate stamp' (SingleLineText) for facegate's stamps" in lines
    assert "hid 'Facegate stamp' in form 'Send us your deepfake'" in lines
    assert f"{attached.env_file}: FACEGATE_STAMP_SECRET set (secret)" in lines
    assert settings["FACEGATE_STAMP_SECRET"] not in attached.first_output


def test_an_approved_row_carries_a_stamp_for_its_upload(
    nocodb: LocalNocoDB, campaign: Campaign, attached: Attached, facegate: FacegateServer
) -> None:
    row_id = campaign.rows["obama as obama"]
    assert _final(nocodb, campaign, row_id, facegate) == "approved"
    with nocodb_api(nocodb.url, campaign.token) as api:
        row = _ok(api.get(f"/api/v2/tables/{campaign.table_id}/records/{row_id}"))
    key = row_key(campaign.table_id, parse_row(row, FieldNames(image="Picture", politician="Minister")))
    secret = read_settings_file(attached.env_file)["FACEGATE_STAMP_SECRET"]
    stamp = StampKey(secret).verify(row["Facegate stamp"], key)
    assert stamp is not None and (stamp.decision, stamp.reason, stamp.politician) == (
        "approved",
        "match",
        "obama",
    )


def _submit(nocodb: LocalNocoDB, campaign: Campaign, cells: dict[str, Any], photo: str) -> int:
    response = httpx.post(
        f"{nocodb.url}/api/v2/public/shared-view/{campaign.form_uuid}/rows",
        data={"data": json.dumps(cells)},
        files={"Picture": (photo, sample(photo), "image/jpeg")},
        timeout=30,
    )
    row_id: int = _ok(response)["Id"]
    return row_id


def test_a_submission_naming_a_display_name_is_decided_against_its_politician(
    nocodb: LocalNocoDB, campaign: Campaign, attached: Attached, facegate: FacegateServer
) -> None:
    # Status is hidden in the campaign's form now: an uploader cannot approve their own upload.
    obama = _submit(nocodb, campaign, {"Minister": "Barack Obama", "Status": "approved"}, "obama3.jpg")
    biden = _submit(nocodb, campaign, {"Minister": "Joe Biden"}, "obama3.jpg")
    assert _final(nocodb, campaign, obama, facegate) == "approved"
    assert _final(nocodb, campaign, biden, facegate) == "deleted"
    approved, rejected = (_decision(facegate, row, attached.env_file) for row in (obama, biden))
    assert (approved["politician"], approved["reason"]) == ("obama", "match")
    assert (rejected["politician"], rejected["reason"]) == ("biden", "no_match")
    shown = _ok(httpx.get(f"{facegate.url}/approved", params={"politician": "obama"}, timeout=10))["items"]
    # On the carousel as obama: the row from before facegate, and this one.
    assert [item["politician"]["slug"] for item in shown] == ["obama", "obama"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ["--image-field", "Comment"],
            "column 'Comment' is a LongText; the image column must be one of Attachment",
        ),
        (
            ["--politician-field", "Ministre"],
            "the table has no column 'Ministre' for the politician (columns of a usable type: Comment,"
            " Minister); name it with --politician-field",
        ),
        (["--table-id", "m0nonexistent"], "NocoDB has no table 'm0nonexistent'"),
        (["token", "x" * 40], "NocoDB refuses the API token (HTTP 401)"),
        (["--nocodb-url", "closed"], "NocoDB is not reachable at http://127.0.0.1:"),
    ],
    ids=["image-not-attachment", "missing-column", "no-table", "wrong-token", "unreachable"],
)
def test_a_refused_attach_is_one_line_and_changes_nothing(
    nocodb: LocalNocoDB,
    campaign: Campaign,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    change: list[str],
    message: str,
) -> None:
    other = _campaign_table(nocodb, campaign, f"Refused {free_port()}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FACEGATE_REFERENCE_DIR", str(ROOT / "reference_faces"))
    monkeypatch.delenv("FACEGATE_NOCODB_API_TOKEN", raising=False)
    monkeypatch.setenv("NOCODB_API_TOKEN", change[1] if change[0] == "token" else campaign.token)
    argv = _attach_command(nocodb, campaign, tmp_path / ".env", "http://127.0.0.1:9")
    argv[argv.index("--table-id") + 1] = other
    if change[0] == "--nocodb-url":
        argv[argv.index("--nocodb-url") + 1] = f"http://127.0.0.1:{free_port()}"
    elif change[0] != "token":
        argv[argv.index(change[0]) + 1] = change[1]
    before = _meta(nocodb, campaign, f"/api/v2/meta/tables/{other}")["columns"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("facegate bootstrap: ") and message in err[-1], err
    assert not any("Traceback" in line for line in err)
    assert _meta(nocodb, campaign, f"/api/v2/meta/tables/{other}")["columns"] == before
    assert _meta(nocodb, campaign, f"/api/v2/meta/tables/{other}/hooks")["list"] == []
    assert not (tmp_path / ".env").exists()


def _campaign_table(nocodb: LocalNocoDB, campaign: Campaign, title: str) -> str:
    with nocodb_api(nocodb.url, campaign.token) as api:
        columns = [
            {
                "title": "Minister",
                "uidt": "SingleSelect",
                "colOptions": {"options": [{"title": "Barack Obama"}]},
            },
            {"title": "Picture", "uidt": "Attachment"},
            {"title": "Comment", "uidt": "LongText"},
        ]
        body = {"title": title, "columns": columns}
        table_id: str = _ok(api.post(f"/api/v2/meta/bases/{campaign.base_id}/tables", json=body))["id"]
    return table_id


def test_a_text_politician_and_a_text_status_are_accepted(nocodb: LocalNocoDB, campaign: Campaign) -> None:
    # An older table: the politician typed in, Status a text column that already holds other values.
    with nocodb_api(nocodb.url, campaign.token) as api:
        columns = [
            {"title": "Who", "uidt": "SingleLineText"},
            {"title": "Photo", "uidt": "Attachment"},
            {"title": "State", "uidt": "SingleLineText"},
        ]
        body = {"title": "Typed", "columns": columns}
        table_id = _ok(api.post(f"/api/v2/meta/bases/{campaign.base_id}/tables", json=body))["id"]
        _ok(
            api.post(
                f"/api/v2/tables/{table_id}/records", json=[{"Who": "barack  OBAMA", "State": "pending"}]
            )
        )
    result = asyncio.run(
        attach(
            base_url=nocodb.url,
            api_token=campaign.token,
            table_id=table_id,
            facegate_url="http://127.0.0.1:9",
            webhook_secret="s",
            politicians=["obama"],
            fields=FieldNames(image="Photo", politician="Who", status="State"),
        )
    )
    assert result.form_url is None  # the table has no form: nothing is shared on facegate's behalf
    stored = {c["title"]: c for c in _meta(nocodb, campaign, f"/api/v2/meta/tables/{table_id}")["columns"]}
    assert stored["State"]["uidt"] == stored["Who"]["uidt"] == "SingleLineText"  # nothing converted
    assert result.status_column_id == stored["State"]["id"]


def _shared_campaign_table(nocodb: LocalNocoDB, campaign: Campaign, title: str) -> tuple[str, str]:
    """A campaign table (a "Minister" select offering only "Barack Obama") and its shared form's uuid."""
    table_id = _campaign_table(nocodb, campaign, title)
    with nocodb_api(nocodb.url, campaign.token) as api:
        form_id = _ok(api.post(f"/api/v2/meta/tables/{table_id}/forms", json={"title": "Upload"}))["id"]
        uuid: str = _ok(api.post(f"/api/v2/meta/views/{form_id}/share"))["uuid"]
    return table_id, uuid


def _operator(monkeypatch: pytest.MonkeyPatch, folder: Path, campaign: Campaign) -> None:
    """An operator's shell in ``folder``: the campaign's token, the demo politicians as references."""
    monkeypatch.chdir(folder)
    shutil.copytree(ROOT / "reference_faces", folder / "reference_faces")
    monkeypatch.delenv("FACEGATE_NOCODB_API_TOKEN", raising=False)
    monkeypatch.delenv("FACEGATE_REFERENCE_DIR", raising=False)  # ./reference_faces, the default
    monkeypatch.setenv("NOCODB_API_TOKEN", campaign.token)


def _minister_options(nocodb: LocalNocoDB, campaign: Campaign, table_id: str) -> list[str]:
    columns = _meta(nocodb, campaign, f"/api/v2/meta/tables/{table_id}")["columns"]
    (minister,) = [c for c in columns if c["title"] == "Minister"]
    return [o["title"] for o in minister["colOptions"]["options"]]


def test_attach_adds_no_option_to_the_campaigns_select_unless_asked(
    nocodb: LocalNocoDB, campaign: Campaign, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table_id, _ = _shared_campaign_table(nocodb, campaign, f"Options {free_port()}")
    _operator(monkeypatch, tmp_path, campaign)
    argv = _attach_command(nocodb, campaign, tmp_path / ".env", "http://facegate:8000")
    argv[argv.index("--table-id") + 1] = table_id
    output = _captured(tmp_path / "first.txt", argv)
    # The select is the campaign's public form: biden ("Joe Biden") is named, not offered.
    assert _minister_options(nocodb, campaign, table_id) == ["Barack Obama"]
    assert "'Minister' offers no option for 'Joe Biden'" in output and "--add-options" in output
    output = _captured(tmp_path / "second.txt", [*argv, "--add-options"])
    assert _minister_options(nocodb, campaign, table_id) == ["Barack Obama", "Joe Biden"]
    assert "added options 'Joe Biden' to column 'Minister'" in output.splitlines()
    assert "nothing changed" in _captured(tmp_path / "third.txt", [*argv, "--add-options"]).splitlines()


def test_a_rerun_keeps_the_webhook_address_and_the_form_url_unless_given_new_ones(
    nocodb: LocalNocoDB, campaign: Campaign, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table_id, uuid = _shared_campaign_table(nocodb, campaign, f"Rerun {free_port()}")
    _operator(monkeypatch, tmp_path, campaign)
    env_file = tmp_path / ".env"
    argv = _attach_command(nocodb, campaign, env_file, "http://facegate:8000")
    argv[argv.index("--table-id") + 1] = table_id
    public = ["--public-nocodb-url", "https://forms.example.org"]
    _captured(tmp_path / "first.txt", [*argv, *public])

    def installed() -> tuple[str, str]:
        (hook,) = _meta(nocodb, campaign, f"/api/v2/meta/tables/{table_id}/hooks")["list"]
        notification = hook["notification"]
        payload = (json.loads(notification) if isinstance(notification, str) else notification)["payload"]
        return payload["path"], read_settings_file(env_file)["FACEGATE_FORM_URL"]

    first = ("http://facegate:8000/webhooks/nocodb", f"https://forms.example.org/#/nc/form/{uuid}")
    assert installed() == first
    # The README's advice after adding a minister: bootstrap again, this time without the addresses.
    bare = argv[: argv.index("--facegate-url")] + argv[argv.index("--facegate-url") + 2 :]
    output = _captured(tmp_path / "second.txt", bare)
    assert installed() == first
    assert "nothing changed" in output.splitlines()
    # New addresses are what changes them, each said in a line.
    output = _captured(tmp_path / "third.txt", [*bare, "--facegate-url", "http://10.0.0.7:8000"])
    assert installed() == ("http://10.0.0.7:8000/webhooks/nocodb", first[1])
    assert (
        "updated webhook 'facegate': address http://facegate:8000/webhooks/nocodb ->"
        " http://10.0.0.7:8000/webhooks/nocodb" in output.splitlines()
    )
    output = _captured(tmp_path / "fourth.txt", [*bare, "--public-nocodb-url", "https://nocodb.example.org/"])
    assert installed()[1] == f"https://nocodb.example.org/#/nc/form/{uuid}"
    assert (
        f"{env_file}: FACEGATE_FORM_URL changed from {first[1]} to https://nocodb.example.org/#/nc/form/{uuid}"
        in output.splitlines()
    )


def test_a_rerun_without_the_table_id_attaches_to_the_table_the_settings_file_names(
    nocodb: LocalNocoDB, campaign: Campaign, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run again with NocoDB's address alone (after adding a minister, say), facegate stays on the
    campaign's table: it does not make a table of its own and move moderation there."""
    table_id, _ = _shared_campaign_table(nocodb, campaign, f"Forgetful {free_port()}")
    _operator(monkeypatch, tmp_path, campaign)
    env_file = tmp_path / ".env"
    argv = _attach_command(nocodb, campaign, env_file, "http://facegate:8000")
    argv[argv.index("--table-id") + 1] = table_id
    _captured(tmp_path / "first.txt", argv)
    settings = read_settings_file(env_file)
    bases = _meta(nocodb, campaign, "/api/v2/meta/bases")["list"]
    output = _captured(
        tmp_path / "second.txt", ["bootstrap", "--nocodb-url", nocodb.url, "--env-file", str(env_file)]
    )
    assert read_settings_file(env_file) == settings
    assert settings["FACEGATE_NOCODB_TABLE_ID"] == table_id
    assert "nothing changed" in output.splitlines()
    assert _meta(nocodb, campaign, "/api/v2/meta/bases")["list"] == bases  # no base of facegate's own
