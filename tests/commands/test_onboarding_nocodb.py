"""A campaign's onboarding in the order the README gives, against the real NocoDB (issue 22).

The campaign's table already holds uploads (the backlog), some naming a minister facegate does not
know yet ("Barack Obama": only Biden is in its reference folder), and a "Consent" checkbox. The
volunteer attaches facegate and starts it: nothing of the backlog is touched. New uploads are
moderated at once: one naming the unknown minister is held, one without consent deleted. The
preview says what facegate would do with the backlog; the volunteer adds the minister and reloads
(the held upload is decided), checks the references, previews again, and confirms: the running
facegate decides the backlog as the preview said, each row once.

The tests of this module run in order, on one campaign.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.cli import main
from app.settings_file import read_settings_file
from harness.facegate import OPERATOR_KEY, FacegateServer, facegate_env, running_facegate
from harness.images import ROOT, sample
from harness.loop import bootstrap_base, nocodb_api
from harness.net import free_port
from harness.nocodb import LocalNocoDB

WAIT_SECONDS = 90.0
# The backlog: what each row is, and what facegate must do with it once Obama is added.
BACKLOG = {
    "obama as obama": ("Barack Obama", "obama2.jpg", True, ("approved", "match")),
    "biden as obama": ("Barack Obama", "biden.jpg", True, ("deleted", "no_match")),
    "biden as biden": ("Joe Biden", "biden.jpg", True, ("approved", "match")),
    "obama as biden": ("Joe Biden", "obama3.jpg", True, ("deleted", "no_match")),
    "no consent": ("Joe Biden", "biden.jpg", False, ("deleted", "no_consent")),
}


@dataclass
class Campaign:
    """The campaign's NocoDB, the facegate attached to it, and what the volunteer has done so far."""

    nocodb: LocalNocoDB
    token: str
    table_id: str
    form_uuid: str
    backlog: dict[str, int]  # row Id by what the row is
    env: dict[str, str]  # facegate's settings: the attach's settings file, and the harness's
    facegate: FacegateServer
    uploads: dict[str, int]  # rows submitted after the attach

    def api(self) -> httpx.Client:
        return nocodb_api(self.nocodb.url, self.token)

    def row(self, row_id: int) -> dict[str, Any] | None:
        with self.api() as api:
            response = api.get(f"/api/v2/tables/{self.table_id}/records/{row_id}")
        return None if response.status_code == 404 or not response.json() else response.json()

    def operator(self, method: str, path: str, **params: Any) -> Any:
        headers = {"X-API-Key": self.env["FACEGATE_OPERATOR_API_KEY"]}
        response = httpx.request(
            method, f"{self.facegate.url}{path}", params=params, headers=headers, timeout=30
        )
        assert response.is_success, response.text
        return response.json()

    def held(self) -> dict[int, str]:
        """Held rows of the table by Id, with why."""
        items = self.operator("GET", "/jobs", state="held", limit=500)["items"]
        return {item["row_id"]: item["held_reason"] for item in items}

    def decisions(self, row_id: int) -> list[dict[str, Any]]:
        return list(self.operator("GET", "/decisions", row_id=row_id)["items"])

    def submit(self, minister: str, photo: str, consent: bool) -> int:
        """An upload through the campaign's public form, as a browser sends it."""
        response = httpx.post(
            f"{self.nocodb.url}/api/v2/public/shared-view/{self.form_uuid}/rows",
            data={"data": json.dumps({"Minister": minister, "Consent": consent})},
            files={"Picture": (photo, sample(photo), "image/jpeg")},
            timeout=30,
        )
        assert response.is_success, response.text
        row_id: int = response.json()["Id"]
        return row_id

    def final(self, row_id: int) -> str:
        """'approved' or 'deleted', once facegate has acted on the row."""
        state: str = _wait(lambda: _state(self.row(row_id)), f"row {row_id} decided", self.facegate)
        return state


def _state(row: dict[str, Any] | None) -> str | None:
    if row is None:
        return "deleted"
    return "approved" if row.get("Status") == "approved" else None


def _wait(check: Callable[[], Any], what: str, server: FacegateServer) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if (found := check()) is not None and found is not False:
            return found
        time.sleep(0.3)
    raise AssertionError(f"{what}: not after {WAIT_SECONDS} s\n{server.log_tail()}")


def _ok(response: httpx.Response) -> Any:
    assert response.is_success, f"{response.request.method} {response.request.url}: {response.text[:300]}"
    return response.json()


def _make_campaign(nocodb: LocalNocoDB, token: str) -> tuple[str, str, dict[str, int]]:
    """The campaign's table, form and backlog, as made in NocoDB's UI: no facegate involved."""
    with nocodb_api(nocodb.url, token) as api:
        base_id = _ok(api.post("/api/v2/meta/bases", json={"title": "Onboarding"}))["id"]
        columns = [
            {
                "title": "Minister",
                "uidt": "SingleSelect",
                "colOptions": {"options": [{"title": "Barack Obama"}, {"title": "Joe Biden"}]},
            },
            {"title": "Picture", "uidt": "Attachment"},
            {"title": "Consent", "uidt": "Checkbox"},
            {"title": "Email", "uidt": "Email"},
        ]
        body = {"title": "Deepfakes", "columns": columns}
        table_id = _ok(api.post(f"/api/v2/meta/bases/{base_id}/tables", json=body))["id"]
        form = {"title": "Your deepfake"}
        form_id = _ok(api.post(f"/api/v2/meta/tables/{table_id}/forms", json=form))["id"]
        form_uuid = _ok(api.post(f"/api/v2/meta/views/{form_id}/share"))["uuid"]
        cells = []
        for minister, photo, consent, _ in BACKLOG.values():
            stored = _ok(
                api.post("/api/v2/storage/upload", files={"files": (photo, sample(photo), "image/jpeg")})
            )
            cells.append({"Minister": minister, "Picture": stored, "Consent": consent})
        ids = _ok(api.post(f"/api/v2/tables/{table_id}/records", json=cells))
    return table_id, form_uuid, {what: r["Id"] for what, r in zip(BACKLOG, ids, strict=True)}


@pytest.fixture(scope="module")
def campaign(nocodb: LocalNocoDB, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Campaign]:
    """Steps 1 and 2: attach (`facegate bootstrap --table-id … --consent-field Consent`), start facegate
    with only Biden in its reference folder."""
    token = bootstrap_base(nocodb.url, "http://127.0.0.1:9", base_title="onboarding-token").api_token
    table_id, form_uuid, backlog = _make_campaign(nocodb, token)
    workdir = tmp_path_factory.mktemp("onboarding")
    env = facegate_env(workdir)
    shutil.rmtree(workdir / "reference_faces" / "obama")  # not added yet
    port = free_port()
    env_file = workdir / "campaign.env"
    attach = [
        "bootstrap",
        *("--nocodb-url", nocodb.url, "--facegate-url", f"http://127.0.0.1:{port}"),
        *("--table-id", table_id, "--env-file", str(env_file)),
        *("--politician-field", "Minister", "--image-field", "Picture", "--consent-field", "Consent"),
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        patch.delenv("FACEGATE_NOCODB_API_TOKEN", raising=False)
        patch.setenv("NOCODB_API_TOKEN", token)
        patch.setenv("FACEGATE_REFERENCE_DIR", env["FACEGATE_REFERENCE_DIR"])
        assert main(attach) == 0
    env |= read_settings_file(env_file) | {
        "FACEGATE_NOCODB_UPLOADS_DIR": str(nocodb.uploads_dir),
        "FACEGATE_OPERATOR_API_KEY": OPERATOR_KEY,  # the harness's, which FacegateServer.metric sends
    }
    with running_facegate(workdir, env, port) as server:
        yield Campaign(nocodb, token, table_id, form_uuid, backlog, env, server, {})


@pytest.fixture
def operator(
    campaign: Campaign, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[list[str]], tuple[int, str]]:
    """Runs a `facegate` command as the volunteer would, beside the running facegate, with its
    settings; returns the exit status and what it printed."""
    for name, value in campaign.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FACEGATE_WORKERS", "1")
    monkeypatch.chdir(tmp_path)

    def run(argv: list[str]) -> tuple[int, str]:
        capture = tmp_path / "out.txt"
        with capture.open("w") as out, pytest.MonkeyPatch.context() as streams:
            streams.setattr("sys.stdout", out)
            code = main(argv)
        return code, capture.read_text()

    return run


def _table(output: str) -> dict[str, list[int]]:
    """The preview's table: per politician, approved, review, deleted and held."""
    rows: dict[str, list[int]] = {}
    for line in output.splitlines():
        *name, approved, review, deleted, held = line.split() if len(line.split()) > 4 else ["", *"----"]
        if name and all(n.isdigit() for n in (approved, review, deleted, held)):
            rows[" ".join(name)] = [int(approved), int(review), int(deleted), int(held)]
    return rows


def _all_held(campaign: Campaign, row_ids: set[int]) -> dict[int, str] | None:
    held = campaign.held()
    return held if row_ids <= set(held) else None


def test_attaching_records_the_backlog_and_nothing_of_it_is_touched(campaign: Campaign) -> None:
    assert campaign.env["FACEGATE_BACKLOG_BEFORE"]
    assert campaign.env["FACEGATE_NOCODB_CONSENT_FIELD"] == "Consent"
    backlog = set(campaign.backlog.values())
    held = _wait(lambda: _all_held(campaign, backlog), "backlog held", campaign.facegate)
    assert {held[row_id] for row_id in backlog} == {"backlog"}
    time.sleep(6)  # another sweep
    assert all(campaign.row(row_id) is not None for row_id in backlog)  # no row deleted
    assert all(campaign.row(row_id)["Status"] is None for row_id in backlog)  # type: ignore[index]
    assert all(campaign.decisions(row_id) == [] for row_id in backlog)


def test_new_uploads_are_moderated_at_once_a_minister_not_added_yet_is_held(campaign: Campaign) -> None:
    campaign.uploads["biden"] = campaign.submit("Joe Biden", "biden.jpg", consent=True)
    campaign.uploads["obama"] = campaign.submit("Barack Obama", "obama3.jpg", consent=True)
    # Last: NocoDB gives a deleted last row's Id to the next row, and no row comes after this one.
    campaign.uploads["no consent"] = campaign.submit("Joe Biden", "biden.jpg", consent=False)
    assert campaign.final(campaign.uploads["biden"]) == "approved"
    assert campaign.final(campaign.uploads["no consent"]) == "deleted"
    (decision,) = campaign.decisions(campaign.uploads["no consent"])
    assert (decision["decision"], decision["reason"], decision["action"]) == (
        "rejected",
        "no_consent",
        "deleted",
    )
    obama = campaign.uploads["obama"]
    assert (
        _wait(lambda: campaign.held().get(obama), "the Obama upload held", campaign.facegate)
        == "unknown_option"
    )
    assert campaign.row(obama) is not None and campaign.decisions(obama) == []
    assert campaign.facegate.metric("facegate_rows_held", reason="unknown_option") == 1
    assert campaign.facegate.metric("facegate_rows_held", reason="backlog") == len(BACKLOG)
    log = campaign.facegate.log_path.read_text()
    assert log.count("Option 'Barack Obama' of 'Minister' names no politician") == 1  # logged once


def test_the_preview_says_what_would_happen_and_changes_nothing(
    campaign: Campaign, operator: Callable[[list[str]], tuple[int, str]]
) -> None:
    code, out = operator(["backlog"])
    assert code == 0, out
    assert out.startswith(f"backlog: {len(BACKLOG)} rows created at or before ")
    assert _table(out) == {
        "Barack Obama": [0, 0, 0, 2],
        "biden": [1, 0, 2, 0],
        "total": [1, 0, 2, 2],
    }
    assert "deleted: no_match 1, no_consent 1" in out or "deleted: no_consent 1, no_match 1" in out
    assert "held: unknown_option 2" in out
    assert set(campaign.held()) >= set(campaign.backlog.values())
    assert all(campaign.decisions(row_id) == [] for row_id in campaign.backlog.values())


def test_adding_the_minister_and_reloading_decides_the_held_upload_not_the_backlog(
    campaign: Campaign, operator: Callable[[list[str]], tuple[int, str]]
) -> None:
    photo = str(ROOT / "reference_faces" / "obama" / "obama.jpg")
    add = ["politicians", "add", "obama", "--name", "Barack Obama", "--role", "President", "--country", "USA"]
    assert operator([*add, photo])[0] == 0
    assert operator(["politicians", "check"])[0] == 0
    politicians = campaign.operator("POST", "/politicians/reload")
    assert {p["slug"] for p in politicians} == {"biden", "obama"}
    assert campaign.final(campaign.uploads["obama"]) == "approved"
    (decision,) = campaign.decisions(campaign.uploads["obama"])
    assert (decision["politician"], decision["reason"]) == ("obama", "match")
    time.sleep(3)
    assert {campaign.held().get(row_id) for row_id in campaign.backlog.values()} == {"backlog"}
    assert all(campaign.row(row_id) is not None for row_id in campaign.backlog.values())


def test_the_preview_again_then_the_confirmation_decides_the_backlog_as_previewed(
    campaign: Campaign, operator: Callable[[list[str]], tuple[int, str]]
) -> None:
    code, out = operator(["backlog"])
    assert code == 0, out
    assert _table(out) == {
        "obama": [1, 0, 1, 0],
        "biden": [1, 0, 2, 0],
        "total": [2, 0, 3, 0],
    }
    code, out = operator(["backlog", "--apply"])
    assert code == 0 and f"{len(BACKLOG)} held rows queued again" in out
    for what, row_id in campaign.backlog.items():
        final, reason = BACKLOG[what][3]
        assert campaign.final(row_id) == final, what
        assert [d["reason"] for d in _logged(campaign, row_id)] == [reason], what  # decided once
    assert campaign.held() == {}
    assert campaign.facegate.metric("facegate_rows_held") == 0
    shown = httpx.get(f"{campaign.facegate.url}/approved", timeout=10).json()["items"]
    assert sorted(item["politician"]["slug"] for item in shown) == ["biden", "biden", "obama", "obama"]


def _logged(campaign: Campaign, row_id: int) -> list[dict[str, Any]]:
    """The row's decisions, once its action is recorded too."""

    def acted() -> list[dict[str, Any]] | None:
        decisions = campaign.decisions(row_id)
        return decisions if decisions and all(d["action"] for d in decisions) else None

    found: list[dict[str, Any]] = _wait(acted, f"row {row_id}'s decision logged", campaign.facegate)
    return found
