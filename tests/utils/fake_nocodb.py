"""A fake NocoDB records API and file server, as an ``httpx.MockTransport`` handler; of the meta API,
only the table's columns (the politician select's options); and a stand-in for its storage's write
times."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import httpx

from app.erasure.files import StoredFiles
from app.erasure.provenance import FORM_FOLDER, created_epoch

BASE = "http://nocodb.test"
TABLE = "tbl1"
CREATED_AT = "2026-01-01 00:00:00+00:00"
# When NocoDB wrote a row's uploads: just before it inserted the row.
WRITTEN_AT = (created_epoch(CREATED_AT) or 0.0) - 0.5
OPERATOR = "usfakeoperator"


def location(row_id: int, name: str) -> str:
    """Where the fake keeps row ``row_id``'s upload ``name``: a public-form upload's location."""
    stored = PurePosixPath(name)
    return f"2026/01/01/{FORM_FOLDER}/{stored.stem}_{row_id:05d}{stored.suffix}"


# The options of the table's politician select: the politicians of the test reference folder.
OPTIONS = ("obama", "biden", "Barack Obama", "Joe Biden")


@dataclass
class FakeNocoDB:
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail_with: int | None = None  # answer every records call with this status
    fail_writes_with: int | None = None  # answer every PATCH and DELETE with this status
    file_status: int | None = None  # answer every file download with this status
    created_by_operator: set[int] = field(default_factory=set)  # rows facegate's token user created
    listed_fields: list[list[str]] = field(default_factory=list)  # each records list's ``fields``
    # The politician column's select options; None: a text column.
    politician_options: list[str] | None = field(default_factory=lambda: list(OPTIONS))
    # The table has facegate's note column (bootstrap adds it; a table attached before notes lacks it).
    note_column: bool = True

    def add(self, row_id: int, politician: str | None, *images: tuple[str, bytes]) -> dict[str, Any]:
        attachments = []
        for name, data in images:
            path = f"download/{location(row_id, name)}"
            self.files[path] = data
            attachments.append(
                {"id": f"att-{row_id}-{name}", "path": path, "title": name, "mimetype": "image/jpeg"}
            )
        row = {
            "Id": row_id,
            "CreatedAt": CREATED_AT,
            "Politician": politician,
            "Status": None,
        }
        if self.note_column:
            row["Facegate"] = None
        row["Image"] = attachments or None
        self.rows[row_id] = row
        return row

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.calls.append((request.method, path))
        if path.startswith("/download/"):
            if self.file_status is not None:
                return httpx.Response(self.file_status)
            data = self.files.get(path.lstrip("/"))  # httpx gives the path decoded
            return httpx.Response(200, content=data) if data is not None else httpx.Response(404)
        if self.fail_with is not None:
            return httpx.Response(self.fail_with, json={"msg": "failing on purpose"})
        if self.fail_writes_with is not None and request.method in {"PATCH", "DELETE"}:
            return httpx.Response(self.fail_writes_with, json={"msg": "failing on purpose"})
        assert request.headers.get("xc-token") == "token"
        if request.method == "GET" and path == "/api/v2/auth/user/me":
            return httpx.Response(200, json={"id": OPERATOR, "is_api_token": True})
        if request.method == "GET" and path == f"/api/v2/meta/tables/{TABLE}":
            return httpx.Response(200, json={"id": TABLE, "title": "Uploads", "columns": self.columns()})
        records = f"/api/v2/tables/{TABLE}/records"
        where = request.url.params.get("where", "")
        if request.method == "GET" and path == records and "nc_created_by" in where:
            (row_id, user) = re.findall(r"\(Id,eq,(\d+)\)~and\(nc_created_by,eq,([^)]*)\)", where)[0]
            mine = user == OPERATOR and int(row_id) in self.created_by_operator and int(row_id) in self.rows
            return httpx.Response(200, json={"list": [{"Id": int(row_id)}] if mine else [], "pageInfo": {}})
        if request.method == "GET" and path == records and (exact := re.fullmatch(r"\(Id,eq,(\d+)\)", where)):
            found = int(exact[1]) in self.rows
            return httpx.Response(
                200, json={"list": [{"Id": int(exact[1])}] if found else [], "pageInfo": {}}
            )
        if request.method == "GET" and path == records:
            self.listed_fields.append(request.url.params.get("fields", "").split(","))
            # Only the keyset paging facegate uses: ``...~and(Id,gt,N)``, one page holding the rest;
            # any other filter (``like``) is left to the caller's exact check.
            after = int(re.findall(r"\(Id,gt,(\d+)\)", where)[-1])
            listed = [row for row_id, row in sorted(self.rows.items()) if row_id > after]
            return httpx.Response(200, json={"list": listed, "pageInfo": {"isLastPage": True}})
        if request.method == "GET" and path.startswith(records + "/"):
            row = self.rows.get(int(path.rsplit("/", 1)[1]))
            return httpx.Response(200, json=row) if row else _not_found()
        if request.method == "PATCH" and path == records:
            body = json.loads(request.content)
            if body["Id"] not in self.rows:
                return _not_found()
            if not self.note_column:
                body.pop("Facegate", None)  # NocoDB drops the cells of columns it lacks
            self.rows[body["Id"]].update(body)
            return httpx.Response(200, json={"Id": body["Id"]})
        if request.method == "DELETE" and path == records:
            (item,) = json.loads(request.content)
            if self.rows.pop(item["Id"], None) is None:
                return _not_found()
            return httpx.Response(200, json=[item])
        return httpx.Response(400, json={"msg": f"unexpected {request.method} {path}"})

    def columns(self) -> list[dict[str, Any]]:
        """The table's columns as NocoDB's meta API describes them."""
        options = self.politician_options
        politician: dict[str, Any] = {"title": "Politician", "uidt": "SingleLineText"}
        if options is not None:
            politician = {
                "title": "Politician",
                "uidt": "SingleSelect",
                "colOptions": {"options": [{"title": title} for title in options]},
            }
        image = {"title": "Image", "uidt": "Attachment"}
        return [politician, image, {"title": "Status", "uidt": "SingleSelect"}]

    def actions(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.calls if m in {"PATCH", "DELETE"}]


def _not_found() -> httpx.Response:
    return httpx.Response(404, json={"error": "ERR_RECORD_NOT_FOUND"})


class WrittenWithTheirRows(StoredFiles):
    """NocoDB's storage for tests that keep no files on disk: every upload was written just before the
    fake's rows were created (a file the fake does not serve is then refused by its download)."""

    def __init__(self) -> None:
        super().__init__(local=None)

    @property
    def configured(self) -> bool:
        return True

    def upload_path(self, location: str) -> str:
        return location

    def written_at(self, location: str) -> float | None:
        return WRITTEN_AT
