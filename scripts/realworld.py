"""Shared by scripts.faults and scripts.load: a real NocoDB, a bootstrapped base, facegate as a real
uvicorn process, and the bookkeeping that checks every upload was decided, and acted on, exactly once.

Everything listens on 127.0.0.1 on free ports, with its data in a temporary folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from app.integrations.nocodb.bootstrap import BootstrapResult, bootstrap
from app.moderation.rows import parse_row, row_key
from scripts.localnocodb import LocalNocoDB, free_port, install
from tests.images import ROOT
from tests.integration.facegate_server import FacegateServer
from tests.integration.loop import FIELDS, OPERATOR_KEY, WEBHOOK_SECRET

ADMIN_EMAIL = "admin@facegate.test"
ADMIN_PASSWORD = "Realworld-Script-Password-1"  # a throwaway local instance


@dataclass(frozen=True)
class Photo:
    politician: str
    file: str
    expected: str  # the final row state: "approved" or "deleted"
    reason: str

    @property
    def decision(self) -> str:
        return "approved" if self.expected == "approved" else "rejected"


# Half approved, half deleted; rocket.jpg (no face) is cheap to reject.
PHOTOS = (
    Photo("obama", "obama2.jpg", "approved", "match"),
    Photo("obama", "biden.jpg", "deleted", "no_match"),
    Photo("biden", "biden.jpg", "approved", "match"),
    Photo("biden", "rocket.jpg", "deleted", "no_face"),
)


@dataclass(frozen=True)
class Upload:
    """One submitted upload: NocoDB may give its Id to a later upload, so the key tells them apart."""

    row_id: int
    key: str
    identity: str
    photo: Photo

    @classmethod
    def of(cls, table_id: str, row: dict[str, Any], photo: Photo) -> Upload:
        parsed = parse_row(row, FIELDS)
        return cls(parsed.row_id, row_key(table_id, parsed), parsed.identity(), photo)


@contextlib.contextmanager
def running_nocodb(tmp: Path) -> Iterator[LocalNocoDB]:
    server = LocalNocoDB(install_dir=install())
    try:
        server.start(port=free_port(), data_dir=tmp / "nocodb")
        yield server
    finally:
        server.stop()


def setup_base(nocodb_url: str, facegate_port: int, title: str) -> BootstrapResult:
    """A base with the Uploads table, its public form, and the webhook to facegate's port."""
    return asyncio.run(
        bootstrap(
            base_url=nocodb_url,
            email=ADMIN_EMAIL,
            password=ADMIN_PASSWORD,
            facegate_url=f"http://127.0.0.1:{facegate_port}",
            webhook_secret=WEBHOOK_SECRET,
            politicians=["obama", "biden"],
            base_title=title,
        )
    )


def make_facegate(
    workdir: Path, port: int, setup: BootstrapResult, nocodb_url: str, **env: str
) -> FacegateServer:
    workdir.mkdir(parents=True)
    shutil.copytree(ROOT / "reference_faces", workdir / "reference_faces")
    settings = {
        "FACEGATE_REFERENCE_DIR": str(workdir / "reference_faces"),
        "FACEGATE_DATA_DIR": str(workdir / "data"),
        "FACEGATE_WORKERS": "2",
        "FACEGATE_NOCODB_URL": nocodb_url,
        "FACEGATE_NOCODB_API_TOKEN": setup.api_token,
        "FACEGATE_NOCODB_TABLE_ID": setup.table_id,
        "FACEGATE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "FACEGATE_OPERATOR_API_KEY": OPERATOR_KEY,
        "FACEGATE_SWEEP_INTERVAL_SECONDS": "5",
    }
    return FacegateServer(port=port, workdir=workdir, env=settings | env)


@contextlib.contextmanager
def running(server: FacegateServer) -> Iterator[FacegateServer]:
    """Start facegate; stop it (and its face processes) however the block ends."""
    try:
        server.start()
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            server.stop()


def facegate_pid(server: FacegateServer) -> int | None:
    process = server._process
    return process.pid if process is not None else None


def nocodb_api(nocodb_url: str, setup: BootstrapResult) -> httpx.Client:
    return httpx.Client(base_url=nocodb_url, headers={"xc-token": setup.api_token}, timeout=60)


def list_rows(
    api: httpx.Client, table_id: str, fields: str = "Id,CreatedAt,Image,Status"
) -> dict[int, dict[str, Any]]:
    """Every row of the table by Id (``fields`` "" for every column), paged by key."""
    rows: dict[int, dict[str, Any]] = {}
    last = 0
    while True:
        params: dict[str, str | int] = {"where": f"(Id,gt,{last})", "sort": "Id", "limit": 1000}
        if fields:
            params["fields"] = fields
        response = api.get(f"/api/v2/tables/{table_id}/records", params=params)
        response.raise_for_status()
        body = response.json()
        page = body.get("list") or []
        rows.update({r["Id"]: r for r in page})
        if not page or body.get("pageInfo", {}).get("isLastPage", True):
            return rows
        last = max(r["Id"] for r in page)


def state_of(upload: Upload, rows: dict[int, dict[str, Any]]) -> str:
    """approved, deleted, pending (blank Status) or the Status found."""
    current = rows.get(upload.row_id)
    if current is None or parse_row(current, FIELDS).identity() != upload.identity:
        return "deleted"  # gone, or its Id now belongs to a later upload
    status = current.get("Status")
    return "approved" if status == "approved" else f"status={status!r}" if status else "pending"


def wait_decided(
    uploads: Callable[[], Sequence[Upload]],
    api: httpx.Client,
    table_id: str,
    *,
    until: Callable[[int], bool],
    timeout: float,
) -> bool:
    """Poll NocoDB until ``until(number decided)``; False at the deadline. Outages are waited out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            rows = list_rows(api, table_id)
            if until(sum(state_of(u, rows) != "pending" for u in uploads())):
                return True
        time.sleep(0.25)
    return False


def all_decisions(facegate_url: str) -> dict[str, list[dict[str, Any]]]:
    """facegate's whole decision log, grouped by row_key."""
    found: dict[str, list[dict[str, Any]]] = {}
    cursor: int | None = None
    with httpx.Client(base_url=facegate_url, headers={"X-API-Key": OPERATOR_KEY}, timeout=30) as http:
        while True:
            params = {"limit": 500} | ({"cursor": cursor} if cursor else {})
            response = http.get("/decisions", params=params)
            response.raise_for_status()
            body = response.json()
            for item in body["items"]:
                found.setdefault(item["row_key"], []).append(item)
            cursor = body["next_cursor"]
            if cursor is None:
                return found


@dataclass
class Verdict:
    """The figures of one run; ``problems`` lists every upload lost, decided wrongly or twice."""

    submitted: int = 0
    approved: int = 0
    deleted: int = 0
    lost: int = 0
    wrong: int = 0
    decisions_per_upload: Counter[int] = field(default_factory=Counter)
    actions_per_upload: Counter[int] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"submitted {self.submitted}",
            f"decided {self.approved + self.deleted} as expected"
            f" (approved {self.approved}, deleted {self.deleted})",
            f"lost {self.lost}  wrong {self.wrong}",
            f"decisions per upload {dict(sorted(self.decisions_per_upload.items()))}",
            f"actions per upload {dict(sorted(self.actions_per_upload.items()))}"
            f"  actions {dict(self.actions)}",
        ]


def evaluate(
    uploads: Sequence[Upload], rows: dict[int, dict[str, Any]], decisions: dict[str, list[dict[str, Any]]]
) -> Verdict:
    verdict = Verdict(submitted=len(uploads))
    for upload in uploads:
        photo, state = upload.photo, state_of(upload, rows)
        records = decisions.get(upload.key, [])
        acted = [r["action"] for r in records if r["action"] is not None]
        verdict.decisions_per_upload[len(records)] += 1
        verdict.actions_per_upload[len(acted)] += 1
        verdict.actions.update(acted)
        where = f"row {upload.row_id} ({photo.politician}/{photo.file}, key {upload.key})"
        if state == "pending":
            verdict.lost += 1
            verdict.problems.append(f"{where}: lost, Status still blank")
        elif state != photo.expected or any(
            (r["decision"], r["reason"]) != (photo.decision, photo.reason) for r in records
        ):
            verdict.wrong += 1
            got = [(r["decision"], r["reason"], r["action"]) for r in records]
            verdict.problems.append(f"{where}: {state}, decisions {got}, expected {photo.expected}")
        elif photo.expected == "approved":
            verdict.approved += 1
        else:
            verdict.deleted += 1
        if len(records) > 1 or len(acted) > 1:
            verdict.problems.append(f"{where}: {len(records)} decisions, {len(acted)} actions")
        elif state != "pending" and len(acted) != 1:
            verdict.problems.append(f"{where}: {state} in NocoDB but {len(acted)} actions recorded")
    return verdict


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += process.memory_info().rss
    return total


class RssSampler:
    """Samples ``tree_rss(pid)`` every ``interval`` seconds in a thread."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(tree_rss(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
