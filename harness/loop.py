"""The moderation loop for real: a NocoDB base bootstrapped for facegate, and facegate as a server in
front of it. Used by the real-NocoDB tests, the end-to-end benchmarks and the fault and load scripts.

Every NocoDB the harness starts gets the same throwaway admin, and every facegate the same secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from app.commands.bootstrap.nocodb import BootstrapResult, bootstrap
from app.commands.bootstrap.webhook import HOOK_TITLE, hook_body

# The harness's only imports of the app's NocoDB names: fix them here when the app moves them.
from app.config import FieldNames
from harness.facegate import OPERATOR_KEY, WEBHOOK_SECRET, FacegateServer, facegate_env, running_facegate
from harness.net import free_port
from harness.nocodb import LocalNocoDB
from harness.stats import summary

__all__ = [
    "ADMIN_EMAIL",
    "ADMIN_PASSWORD",
    "FIELDS",
    "OPERATOR_KEY",
    "POLITICIANS",
    "WEBHOOK_SECRET",
    "Loop",
    "add_webhook",
    "bootstrap_base",
    "insert_rows",
    "list_rows",
    "loop_env",
    "nocodb_api",
    "running_loop",
]

ADMIN_EMAIL = "admin@facegate.test"
ADMIN_PASSWORD = "Integration-Test-Password-1"  # the first bootstrap signs this admin up
POLITICIANS = ("obama", "biden")
# The uploads table's columns, as bootstrap creates them.
FIELDS = FieldNames(image="Image", politician="Politician", status="Status")
DECIDE_TIMEOUT_SECONDS = 90.0
# NocoDB answers 422 to a bulk insert of more than 100 records.
BULK_LIMIT = 100


def bootstrap_base(nocodb_url: str, facegate_url: str, **overrides: Any) -> BootstrapResult:
    """The Uploads table, its public form and the webhook to ``facegate_url``, as the harness admin.

    ``overrides`` are bootstrap()'s other arguments (base_title, api_token, password, ...).
    """
    arguments: dict[str, Any] = {
        "base_url": nocodb_url,
        "email": ADMIN_EMAIL,
        "password": ADMIN_PASSWORD,
        "facegate_url": facegate_url,
        "webhook_secret": WEBHOOK_SECRET,
        "politicians": POLITICIANS,
    }
    return asyncio.run(bootstrap(**(arguments | overrides)))


def add_webhook(nocodb_url: str, setup: BootstrapResult, facegate_url: str, number: int) -> str:
    """One more webhook on the table, to another facegate instance, so that NocoDB announces every row
    to each; returns its id. Titled ``facegate-<number>``: bootstrap keeps one hook titled ``facegate``
    and would remove a second one."""
    body = hook_body(facegate_url, WEBHOOK_SECRET) | {"title": f"{HOOK_TITLE}-{number}"}
    with nocodb_api(nocodb_url, setup.api_token) as api:
        response = api.post(f"/api/v2/meta/tables/{setup.table_id}/hooks", json=body)
        if not response.is_success:
            raise RuntimeError(f"adding a webhook: {response.status_code} {response.text[:300]}")
        return str(response.json()["id"])


def nocodb_api(nocodb_url: str, api_token: str, timeout: float = 60.0) -> httpx.Client:
    return httpx.Client(base_url=nocodb_url, headers={"xc-token": api_token}, timeout=timeout)


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


def insert_rows(
    api: httpx.Client, table_id: str, files: Mapping[str, bytes], uploads: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Rows of (politician, file name) in bulk inserts through the records API, each file uploaded once
    through the storage API; returns them, in order, as the records API reads them back."""
    stored = {}
    for name, data in files.items():
        response = api.post("/api/v2/storage/upload", files={"files": (name, data, "image/jpeg")})
        response.raise_for_status()
        stored[name] = response.json()
    body = [{FIELDS.politician: politician, FIELDS.image: stored[name]} for politician, name in uploads]
    ids: list[int] = []
    for start in range(0, len(body), BULK_LIMIT):
        response = api.post(f"/api/v2/tables/{table_id}/records", json=body[start : start + BULK_LIMIT])
        if not response.is_success:
            raise RuntimeError(f"bulk insert: {response.status_code} {response.text[:300]}")
        ids += [r["Id"] for r in response.json()]
    rows = list_rows(api, table_id, fields="")
    return [rows[i] for i in ids]


@dataclass(frozen=True)
class Loop:
    """A bootstrapped base in a running NocoDB, and the facegate moderating it."""

    nocodb: LocalNocoDB
    setup: BootstrapResult
    facegate: FacegateServer
    latencies: list[float] = field(default_factory=list)  # submission to final state, by wait_final

    def api(self, timeout: float = 30.0) -> httpx.Client:
        return nocodb_api(self.nocodb.url, self.setup.api_token, timeout)

    def submit(
        self, politician: str, image: bytes, name: str = "upload.jpg", timeout: float = 30.0
    ) -> dict[str, Any]:
        """One upload through the public form: multipart, no credentials."""
        response = httpx.post(
            f"{self.nocodb.url}/api/v2/public/shared-view/{self.setup.form_uuid}/rows",
            data={"data": json.dumps({FIELDS.politician: politician})},
            files={FIELDS.image: (name, image, "image/jpeg")},
            timeout=timeout,
        )
        assert response.status_code == 200, response.text
        row: dict[str, Any] = response.json()
        return row

    def row(self, row_id: int, api: httpx.Client | None = None) -> dict[str, Any] | None:
        """The row, None once it is gone; pass ``api`` to poll over one connection."""
        with contextlib.nullcontext(api) if api is not None else self.api() as client:
            response = client.get(f"/api/v2/tables/{self.setup.table_id}/records/{row_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body or None  # NocoDB answers {} for some missing rows

    def state(self, row_id: int, api: httpx.Client | None = None) -> str | None:
        """'approved', 'deleted', or None while undecided."""
        current = self.row(row_id, api)
        if current is None:
            return "deleted"
        return "approved" if current.get(FIELDS.status) == "approved" else None

    def wait_final(self, row: dict[str, Any], expected: str, started: float | None = None) -> None:
        """Poll NocoDB until the row is approved or gone; ``expected`` is 'approved' or 'deleted'."""
        deadline = time.monotonic() + DECIDE_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            state = self.state(row["Id"])
            if state is not None:
                assert state == expected, f"row {row['Id']}: {state}, expected {expected}"
                if started is not None:
                    self.latencies.append(time.monotonic() - started)
                return
            time.sleep(0.1)
        raise AssertionError(
            f"row {row['Id']} undecided after {DECIDE_TIMEOUT_SECONDS} s:\n{self.facegate.log_tail()}"
        )

    def until(self, check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
        """Poll ``check`` until it gives something; past ``timeout`` seconds, fail with ``what`` and
        facegate's last log lines."""
        deadline = time.monotonic() + timeout
        while not (found := check()):
            assert time.monotonic() < deadline, f"{what}:\n{self.facegate.log_tail()}"
            time.sleep(0.1)
        return found

    def decisions(self, row_id: int) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{self.facegate.url}/decisions",
            params={"row_id": row_id, "limit": 500},
            headers={"X-API-Key": OPERATOR_KEY},
            timeout=10,
        )
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["items"]
        return items


def loop_env(
    nocodb: LocalNocoDB,
    setup: BootstrapResult,
    workdir: Path,
    *,
    nocodb_url: str | None = None,
    sweep_seconds: int = 5,
) -> dict[str, str]:
    """The settings of a facegate in ``workdir`` that moderates ``setup``'s table; ``nocodb_url``: a
    proxy in front of NocoDB."""
    return facegate_env(workdir, sweep_seconds=sweep_seconds) | {
        "FACEGATE_NOCODB_URL": nocodb_url or nocodb.url,
        "FACEGATE_NOCODB_API_TOKEN": setup.api_token,
        "FACEGATE_NOCODB_TABLE_ID": setup.table_id,
        "FACEGATE_NOCODB_UPLOADS_DIR": str(nocodb.uploads_dir),
    }


@contextlib.contextmanager
def running_loop(
    nocodb: LocalNocoDB,
    workdir: Path,
    *,
    base_title: str,
    webhook: bool = True,
    facegate_nocodb_url: str | None = None,
    sweep_seconds: int = 5,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[Loop]:
    """Bootstrap a base in NocoDB and run facegate for it in ``workdir``; stops facegate at the end.

    ``webhook=False`` points NocoDB's webhook at a closed port, so facegate sees only the events posted
    to it; ``facegate_nocodb_url`` lets facegate reach NocoDB through a proxy; ``extra_env`` adds to or
    overrides facegate's settings (e.g. its S3 storage). facegate's public URL is its own address, so
    the notes it writes link to its reference page.
    """
    port = free_port()
    setup = bootstrap_base(
        nocodb.url, f"http://127.0.0.1:{port if webhook else free_port()}", base_title=base_title
    )
    env = loop_env(nocodb, setup, workdir, nocodb_url=facegate_nocodb_url, sweep_seconds=sweep_seconds)
    # Notes carry the reference page's link: signed with the harness's stamp secret, to this facegate.
    env |= {"FACEGATE_PUBLIC_URL": f"http://127.0.0.1:{port}"} | dict(extra_env or {})
    with running_facegate(workdir, env, port) as server:
        loop = Loop(nocodb=nocodb, setup=setup, facegate=server)
        yield loop
    if loop.latencies:
        figures = summary(loop.latencies)
        print(
            f"\n[moderation loop] submission to final row state: n={figures['n']:.0f}"
            f" p50={figures['median']:.2f}s p95={figures['p95']:.2f}s max={figures['max']:.2f}s"
        )
