"""bootstrap() against a real NocoDB: shape, idempotency, form submission, webhook, restart."""

from __future__ import annotations

import io
import json
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from PIL import Image

from app.commands.bootstrap.credentials import TOKEN_DESCRIPTION
from app.commands.bootstrap.errors import BootstrapError
from app.commands.bootstrap.forms import FORM_RULES
from app.commands.bootstrap.nocodb import BootstrapResult
from app.commands.bootstrap.webhook import HOOK_TITLE, SECRET_HEADER
from app.config import RejectAction
from app.moderation.act import flag_status
from app.outcomes import Reason
from app.politicians.names import PoliticianNames
from harness.images import ROOT
from harness.loop import ADMIN_EMAIL, ADMIN_PASSWORD, POLITICIANS, WEBHOOK_SECRET, bootstrap_base, nocodb_api
from harness.nocodb import LocalNocoDB

# NocoDB delivers webhooks from an in-memory queue shortly after the insert.
WEBHOOK_WAIT_SECONDS = 30.0
HTTP_TIMEOUT_SECONDS = 30.0
FIXTURE_PATH = ROOT / "tests" / "fixtures" / "nocodb_webhook_insert.json"
# Set to 1 to overwrite the recorded webhook fixture with a fresh real payload.
RECORD_FIXTURE_ENV = "FACEGATE_RECORD_FIXTURES"
FORM_VIEW_TYPE = 1


# ------------------------------------------------------------------------------------ helpers


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    """A tiny HTTP server standing in for facegate: it records every POST it gets."""

    def __init__(self) -> None:
        self.requests: queue.Queue[ReceivedRequest] = queue.Queue()
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                received.put(ReceivedRequest(self.path, dict(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Keep the test output quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def next_request(self, timeout: float = WEBHOOK_WAIT_SECONDS) -> ReceivedRequest:
        return self.requests.get(timeout=timeout)


def get_json(client: httpx.Client, path: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    response.raise_for_status()
    return response.json()


def admin_jwt(nocodb: LocalNocoDB) -> str:
    response = httpx.post(
        f"{nocodb.url}/api/v2/auth/user/signin",
        json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        timeout=HTTP_TIMEOUT_SECONDS,
    )
    response.raise_for_status()
    token: str = response.json()["token"]
    return token


def counts(nocodb: LocalNocoDB, result: BootstrapResult) -> dict[str, int]:
    """How many bases, tables, views, hooks and tokens exist: a rerun must not change any."""
    with nocodb_api(nocodb.url, result.api_token, HTTP_TIMEOUT_SECONDS) as client:
        tokens = httpx.get(
            f"{nocodb.url}/api/v1/tokens",
            headers={"xc-auth": admin_jwt(nocodb)},
            timeout=HTTP_TIMEOUT_SECONDS,
        ).json()["list"]
        return {
            "bases": len(get_json(client, "/api/v2/meta/bases")["list"]),
            "tables": len(get_json(client, f"/api/v2/meta/bases/{result.base_id}/tables")["list"]),
            "views": len(get_json(client, f"/api/v2/meta/tables/{result.table_id}/views")["list"]),
            "hooks": len(get_json(client, f"/api/v2/meta/tables/{result.table_id}/hooks")["list"]),
            "tokens": len(tokens),
            "facegate_tokens": sum(t["description"] == TOKEN_DESCRIPTION for t in tokens),
        }


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(buffer, "JPEG")
    return buffer.getvalue()


def submit_form(nocodb: LocalNocoDB, form_uuid: str | None, cells: dict[str, Any]) -> dict[str, Any]:
    """Submit the public form the way NocoDB's form page does: multipart, no auth."""
    assert form_uuid is not None
    response = httpx.post(
        f"{nocodb.url}/api/v2/public/shared-view/{form_uuid}/rows",
        data={"data": json.dumps(cells)},
        files={"Image": ("face.jpg", jpeg_bytes(), "image/jpeg")},
        timeout=HTTP_TIMEOUT_SECONDS,
    )
    assert response.status_code == 200, response.text
    row: dict[str, Any] = response.json()
    return row


def hook_payload(hook: dict[str, Any]) -> dict[str, Any]:
    notification = hook["notification"]
    parsed = json.loads(notification) if isinstance(notification, str) else notification
    payload: dict[str, Any] = parsed["payload"]
    return payload


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


@pytest.fixture(scope="module")
def setup(nocodb: LocalNocoDB, receiver: WebhookReceiver) -> BootstrapResult:
    return bootstrap_base(nocodb.url, receiver.url)


# ------------------------------------------------------------------------------------ tests


def test_bootstrap_creates_table_form_and_hook(
    nocodb: LocalNocoDB, receiver: WebhookReceiver, setup: BootstrapResult
) -> None:
    with nocodb_api(nocodb.url, setup.api_token, HTTP_TIMEOUT_SECONDS) as client:
        table = get_json(client, f"/api/v2/meta/tables/{setup.table_id}")
        columns = {column["title"]: column for column in table["columns"]}
        assert columns["Politician"]["uidt"] == "SingleSelect"
        options = [option["title"] for option in columns["Politician"]["colOptions"]["options"]]
        assert options == list(POLITICIANS)
        assert columns["Image"]["uidt"] == "Attachment"
        # A select, so that a moderator picks a value facegate understands (issue 12).
        assert columns["Status"]["uidt"] == "SingleSelect"
        statuses = [option["title"] for option in columns["Status"]["colOptions"]["options"]]
        assert statuses == ["approved", "review", "rejected"]
        assert columns["Politician"]["id"] == setup.politician_column_id
        assert columns["Image"]["id"] == setup.image_column_id
        assert columns["Status"]["id"] == setup.status_column_id

        views = get_json(client, f"/api/v2/meta/tables/{setup.table_id}/views")["list"]
        form = next(view for view in views if view["id"] == setup.form_view_id)
        assert form["type"] == FORM_VIEW_TYPE
        assert form["uuid"] == setup.form_uuid
        assert setup.form_url == f"{nocodb.url}/#/nc/form/{setup.form_uuid}"

        form_view = get_json(client, f"/api/v2/meta/forms/{setup.form_view_id}")
        assert form_view["subheading"] == FORM_RULES  # the rules, above the form
        form_columns = form_view["columns"]
        by_column = {fc["fk_column_id"]: fc for fc in form_columns}
        assert not by_column[setup.status_column_id]["show"]
        assert by_column[setup.politician_column_id]["required"]
        assert by_column[setup.image_column_id]["required"]

        hooks = get_json(client, f"/api/v2/meta/tables/{setup.table_id}/hooks")["list"]
    assert [hook["id"] for hook in hooks] == [setup.hook_id]
    hook = hooks[0]
    assert (hook["title"], hook["event"], hook["operation"]) == (
        HOOK_TITLE,
        "after",
        ["insert", "update", "delete"],
    )
    assert hook["version"] == "v3"
    assert hook["active"]
    payload = hook_payload(hook)
    assert payload["method"] == "POST"
    assert payload["path"] == f"{receiver.url}/webhooks/nocodb"
    assert payload["body"] == "{{ json event }}"
    assert payload["headers"] == [{"name": SECRET_HEADER, "value": WEBHOOK_SECRET, "enabled": True}]


def test_bootstrap_twice_creates_nothing_new(
    nocodb: LocalNocoDB, receiver: WebhookReceiver, setup: BootstrapResult
) -> None:
    before = counts(nocodb, setup)
    assert before["facegate_tokens"] == 1

    again = bootstrap_base(nocodb.url, receiver.url, api_token=setup.api_token)
    assert again == setup
    assert again.api_token == setup.api_token
    # Without the token NocoDB's token list (which shows values in 0.301) is used: still no new one.
    assert bootstrap_base(nocodb.url, receiver.url) == setup
    assert counts(nocodb, setup) == before


def test_rerun_adds_politicians_and_updates_the_hook(nocodb: LocalNocoDB, receiver: WebhookReceiver) -> None:
    """A separate base, so the shared ``setup`` keeps its hook pointing at the receiver."""
    base = "facegate-rerun"
    first = bootstrap_base(nocodb.url, receiver.url, base_title=base)
    before = counts(nocodb, first)

    second = bootstrap_base(
        nocodb.url,
        "http://127.0.0.1:9/elsewhere/",
        base_title=base,
        webhook_secret="rotated",
        politicians=["merkel", "obama"],
        api_token=first.api_token,
    )
    assert second == first
    assert counts(nocodb, second) == before
    with nocodb_api(nocodb.url, second.api_token, HTTP_TIMEOUT_SECONDS) as client:
        table = get_json(client, f"/api/v2/meta/tables/{second.table_id}")
        hooks = get_json(client, f"/api/v2/meta/tables/{second.table_id}/hooks")["list"]
    politician = next(c for c in table["columns"] if c["title"] == "Politician")
    options = [option["title"] for option in politician["colOptions"]["options"]]
    assert options == [*POLITICIANS, "merkel"]
    payload = hook_payload(hooks[0])
    assert payload["path"] == "http://127.0.0.1:9/elsewhere/webhooks/nocodb"
    assert payload["headers"][0]["value"] == "rotated"


def test_failures_raise_bootstrap_error_without_secrets(
    nocodb: LocalNocoDB, receiver: WebhookReceiver, setup: BootstrapResult
) -> None:
    wrong_password = "Not-The-Password-9"
    with pytest.raises(BootstrapError) as wrong_login:
        bootstrap_base(nocodb.url, receiver.url, password=wrong_password)
    assert wrong_login.value.status == 400
    assert "Invalid credentials" in str(wrong_login.value)
    assert wrong_password not in str(wrong_login.value)

    bad_token = "x" * 40
    with pytest.raises(BootstrapError) as rejected:
        bootstrap_base(nocodb.url, receiver.url, api_token=bad_token)
    assert rejected.value.status == 401
    assert bad_token not in str(rejected.value)


def test_form_submission_stores_row_with_attachment(nocodb: LocalNocoDB, setup: BootstrapResult) -> None:
    # Status is hidden in the form: an uploader cannot approve their own upload.
    row = submit_form(nocodb, setup.form_uuid, {"Politician": "obama", "Status": "approved"})
    with nocodb_api(nocodb.url, setup.api_token, HTTP_TIMEOUT_SECONDS) as client:
        stored = get_json(client, f"/api/v2/tables/{setup.table_id}/records/{row['Id']}")
        assert stored["Politician"] == "obama"
        assert stored["Status"] is None
        [attachment] = stored["Image"]
        assert attachment["mimetype"] == "image/jpeg"
        assert attachment["title"] == "face.jpg"
        # Secure attachments: only the signed link serves the file, the plain path does not.
        assert client.get(f"/{attachment['path']}").status_code == 404
        download = client.get(f"/{attachment['signedPath']}")
        assert download.status_code == 200
        assert download.content == jpeg_bytes()


def test_the_stamp_column_is_text_hidden_in_the_form(nocodb: LocalNocoDB, setup: BootstrapResult) -> None:
    # facegate's stamp (issue 22): the record of each decision in the row, which no uploader may write.
    with nocodb_api(nocodb.url, setup.api_token, HTTP_TIMEOUT_SECONDS) as client:
        table = get_json(client, f"/api/v2/meta/tables/{setup.table_id}")
        stamp = next(column for column in table["columns"] if column["title"] == "Facegate stamp")
        assert stamp["uidt"] == "SingleLineText"
        form = get_json(client, f"/api/v2/meta/forms/{setup.form_view_id}")
        (form_column,) = [fc for fc in form["columns"] if fc["fk_column_id"] == stamp["id"]]
        assert not form_column["show"]
        row = submit_form(nocodb, setup.form_uuid, {"Politician": "obama", "Facegate stamp": "fg1.approved"})
        stored = get_json(client, f"/api/v2/tables/{setup.table_id}/records/{row['Id']}")
    assert stored["Facegate stamp"] is None


def test_webhook_fires_on_form_insert(
    nocodb: LocalNocoDB, receiver: WebhookReceiver, setup: BootstrapResult
) -> None:
    while not receiver.requests.empty():  # earlier tests' inserts
        receiver.requests.get_nowait()
    row = submit_form(nocodb, setup.form_uuid, {"Politician": "biden"})

    request = receiver.next_request()
    while json.loads(request.body)["data"]["rows"][0]["Id"] != row["Id"]:
        request = receiver.next_request()
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert request.path == "/webhooks/nocodb"
    assert headers["x-facegate-secret"] == WEBHOOK_SECRET
    assert headers["content-type"].startswith("application/json")
    event = json.loads(request.body)
    assert event["type"] == "records.after.insert"
    assert event["base_id"] == setup.base_id
    assert event["data"]["table_id"] == setup.table_id
    [sent] = event["data"]["rows"]
    assert sent["Politician"] == "biden"
    assert sent["Image"][0]["path"] == row["Image"][0]["path"]
    if os.environ.get(RECORD_FIXTURE_ENV) == "1":
        FIXTURE_PATH.parent.mkdir(parents=True, exist_ok=True)
        FIXTURE_PATH.write_text(json.dumps(event, indent=2) + "\n")
    recorded = json.loads(FIXTURE_PATH.read_text())
    assert recorded.keys() == event.keys()
    assert recorded["data"]["rows"][0].keys() == sent.keys()


def test_data_and_tokens_survive_a_restart(
    nocodb: LocalNocoDB, receiver: WebhookReceiver, setup: BootstrapResult
) -> None:
    jwt = admin_jwt(nocodb)
    with nocodb_api(nocodb.url, setup.api_token, HTTP_TIMEOUT_SECONDS) as client:
        rows_before = get_json(client, f"/api/v2/tables/{setup.table_id}/records")["list"]
    before = counts(nocodb, setup)

    nocodb.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{nocodb.url}/api/v1/health", timeout=HTTP_TIMEOUT_SECONDS)
    nocodb.start()

    with nocodb_api(nocodb.url, setup.api_token, HTTP_TIMEOUT_SECONDS) as client:
        rows_after = get_json(client, f"/api/v2/tables/{setup.table_id}/records")["list"]
    assert [r["Id"] for r in rows_after] == [r["Id"] for r in rows_before]
    # The JWT secret is kept in the data folder, so sessions issued before the restart still work.
    me = httpx.get(
        f"{nocodb.url}/api/v1/auth/user/me", headers={"xc-auth": jwt}, timeout=HTTP_TIMEOUT_SECONDS
    )
    assert me.json()["email"] == ADMIN_EMAIL
    assert bootstrap_base(nocodb.url, receiver.url, api_token=setup.api_token) == setup
    assert counts(nocodb, setup) == before


def test_the_form_offers_display_names_and_flag_mode_can_write_its_status(
    nocodb: LocalNocoDB, receiver: WebhookReceiver
) -> None:
    """A select Status refuses any value it does not offer (HTTP 400): with FACEGATE_ACTION=flag it
    offers every ``rejected: <reason>``. And the politicians are offered by their display names."""
    names = PoliticianNames.build(
        [("obama", "Barack Obama", None), ("biden", "Joe Biden", "President Biden")]
    )
    flagged = bootstrap_base(
        nocodb.url, receiver.url, base_title="facegate-flag", politicians=names, action=RejectAction.FLAG
    )
    with nocodb_api(nocodb.url, flagged.api_token, HTTP_TIMEOUT_SECONDS) as client:
        table = get_json(client, f"/api/v2/meta/tables/{flagged.table_id}")
        columns = {column["title"]: column for column in table["columns"]}
        options = [option["title"] for option in columns["Politician"]["colOptions"]["options"]]
        assert options == ["Barack Obama", "President Biden"]
        row = submit_form(nocodb, flagged.form_uuid, {"Politician": "President Biden"})
        update = {"Id": row["Id"], "Status": flag_status(Reason.NO_FACE)}
        assert client.patch(f"/api/v2/tables/{flagged.table_id}/records", json=update).status_code == 200
        update["Status"] = "rejected: something else"
        assert client.patch(f"/api/v2/tables/{flagged.table_id}/records", json=update).status_code == 400
    # A set-up whose form offered slugs (before display names) gets no second option per politician.
    older = bootstrap_base(nocodb.url, receiver.url, base_title="facegate-slugs", politicians=["obama"])
    assert bootstrap_base(nocodb.url, receiver.url, base_title="facegate-slugs", politicians=names) == older
    with nocodb_api(nocodb.url, older.api_token, HTTP_TIMEOUT_SECONDS) as client:
        table = get_json(client, f"/api/v2/meta/tables/{older.table_id}")
    politician = next(column for column in table["columns"] if column["title"] == "Politician")
    assert [option["title"] for option in politician["colOptions"]["options"]] == ["obama", "President Biden"]
