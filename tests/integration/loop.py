"""A real NocoDB, bootstrapped, with facegate as a real server in front of it, for the integration tests."""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.integrations.nocodb.bootstrap import BootstrapResult, bootstrap
from app.moderation.rows import FieldNames
from scripts.localnocodb import free_port
from tests.images import ROOT
from tests.integration.conftest import NocoDBInstance
from tests.integration.facegate_server import FacegateServer

WEBHOOK_SECRET = "loop-test-secret"
OPERATOR_KEY = "loop-operator-key"
DECIDE_TIMEOUT_SECONDS = 90.0
LATENCIES: list[float] = []
FIELDS = FieldNames(image="Image", politician="Politician", status="Status")


@dataclass(frozen=True)
class Loop:
    nocodb: NocoDBInstance
    setup: BootstrapResult
    facegate: FacegateServer

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.nocodb.url, headers={"xc-token": self.setup.api_token}, timeout=30)

    def submit(self, politician: str, image: bytes, name: str = "upload.jpg") -> dict[str, Any]:
        """One upload through the public form: multipart, no credentials."""
        response = httpx.post(
            f"{self.nocodb.url}/api/v2/public/shared-view/{self.setup.form_uuid}/rows",
            data={"data": json.dumps({"Politician": politician})},
            files={"Image": (name, image, "image/jpeg")},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        row: dict[str, Any] = response.json()
        return row

    def row(self, row_id: int) -> dict[str, Any] | None:
        with self.api() as api:
            response = api.get(f"/api/v2/tables/{self.setup.table_id}/records/{row_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body or None  # NocoDB answers {} for some missing rows

    def wait_final(self, row: dict[str, Any], expected: str, started: float | None = None) -> None:
        """Poll NocoDB until the row is approved or gone; ``expected`` is 'approved' or 'deleted'."""
        deadline = time.monotonic() + DECIDE_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            current = self.row(row["Id"])
            state = (
                "deleted" if current is None else "approved" if current.get("Status") == "approved" else None
            )
            if state is not None:
                assert state == expected, f"row {row['Id']}: {state}, expected {expected}"
                if started is not None:
                    LATENCIES.append(time.monotonic() - started)
                return
            time.sleep(0.1)
        raise AssertionError(
            f"row {row['Id']} undecided after {DECIDE_TIMEOUT_SECONDS} s:\n{self.facegate.log_tail()}"
        )

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


def running_loop(
    nocodb: NocoDBInstance, tmp_path_factory: pytest.TempPathFactory, *, base_title: str
) -> Iterator[Loop]:
    """Bootstrap a base in NocoDB and start facegate for it; stops facegate at the end."""
    port = free_port()
    setup = asyncio.run(
        bootstrap(
            base_url=nocodb.url,
            email=nocodb.admin_email,
            password=nocodb.admin_password,
            facegate_url=f"http://127.0.0.1:{port}",
            webhook_secret=WEBHOOK_SECRET,
            politicians=["obama", "biden"],
            base_title=base_title,
        )
    )
    workdir = tmp_path_factory.mktemp("facegate")
    shutil.copytree(ROOT / "reference_faces", workdir / "reference_faces")
    server = FacegateServer(
        port=port,
        workdir=workdir,
        env={
            "FACEGATE_REFERENCE_DIR": str(workdir / "reference_faces"),
            "FACEGATE_DATA_DIR": str(workdir / "data"),
            "FACEGATE_WORKERS": "2",
            "FACEGATE_NOCODB_URL": nocodb.url,
            "FACEGATE_NOCODB_API_TOKEN": setup.api_token,
            "FACEGATE_NOCODB_TABLE_ID": setup.table_id,
            "FACEGATE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "FACEGATE_OPERATOR_API_KEY": OPERATOR_KEY,
            "FACEGATE_SWEEP_INTERVAL_SECONDS": "5",
        },
    )
    server.start()
    try:
        yield Loop(nocodb=nocodb, setup=setup, facegate=server)
    finally:
        server.stop()
        if LATENCIES:
            ordered = sorted(LATENCIES)
            p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
            print(
                f"\n[moderation loop] submission to final row state: n={len(ordered)}"
                f" p50={statistics.median(ordered):.2f}s p95={p95:.2f}s max={ordered[-1]:.2f}s"
            )
