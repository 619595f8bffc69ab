"""On a real NocoDB: from a form submission to the row's final state (approved, or deleted).

NocoDB and facegate run as real servers; uploads go through NocoDB's public shared-form endpoint as a
browser sends them, one at a time; the row is polled every 50 ms until ``Status == approved`` or it
is gone. The time includes NocoDB's webhook, facegate's queue, the download, the face work and the
action in NocoDB.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import httpx

from bench.common import SIZES, jpeg_of, percentile
from bench.servers import NocoDB, facegate_env, nocodb_settings, running_facegate
from scripts.localnocodb import free_port
from tests.images import sample

POLL_SECONDS = 0.05
DECIDE_TIMEOUT_SECONDS = 120.0
# (label, politician claimed, sample photo, made-up size or None for the sample itself, final state)
UPLOADS: tuple[tuple[str, str, str, str | None, str], ...] = (
    ("obama2.jpg as obama", "obama", "obama2.jpg", None, "approved"),
    ("biden.jpg as obama", "obama", "biden.jpg", None, "deleted"),
    ("obama2 12MP as obama", "obama", "obama2.jpg", "phone", "approved"),
    ("biden 12MP as biden", "biden", "biden.jpg", "phone", "approved"),
)


def _photo(name: str, size: str | None) -> bytes:
    return sample(name) if size is None else jpeg_of(name, SIZES[size])


def _state(api: httpx.Client, table_id: str, row_id: int) -> str | None:
    response = api.get(f"/api/v2/tables/{table_id}/records/{row_id}")
    if response.status_code == 404 or (response.is_success and not response.json()):
        return "deleted"
    response.raise_for_status()
    return "approved" if response.json().get("Status") == "approved" else None


def run(nocodb: NocoDB, uploads: int = 20) -> dict[str, Any]:
    port = free_port()
    setup = nocodb.bootstrap(f"http://127.0.0.1:{port}", base_title="bench-end-to-end")
    workdir = nocodb.workdir / "facegate-e2e"
    workdir.mkdir()
    env = facegate_env(workdir, nocodb_settings(nocodb, setup))
    form = f"{nocodb.url}/api/v2/public/shared-view/{setup.form_uuid}/rows"
    samples: list[dict[str, Any]] = []
    with running_facegate(workdir, env, port) as server, nocodb.api(setup) as api:
        for i in range(uploads):
            label, claim, name, size, expected = UPLOADS[i % len(UPLOADS)]
            data = _photo(name, size)
            started = time.perf_counter()
            response = httpx.post(
                form,
                data={"data": json.dumps({"Politician": claim})},
                files={"Image": (f"{name}.jpg", data, "image/jpeg")},
                timeout=60,
            )
            response.raise_for_status()
            row_id = response.json()["Id"]
            submitted = time.perf_counter() - started
            state = None
            deadline = time.monotonic() + DECIDE_TIMEOUT_SECONDS
            while state is None and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
                state = _state(api, setup.table_id, row_id)
            if state is None:
                raise RuntimeError(
                    f"row {row_id} undecided after {DECIDE_TIMEOUT_SECONDS} s:\n{server.log_tail()}"
                )
            samples.append(
                {
                    "upload": label,
                    "bytes": len(data),
                    "submit_s": submitted,
                    "final_s": time.perf_counter() - started,
                    "state": state,
                    "expected": expected,
                }
            )
    finals = [s["final_s"] for s in samples]
    by_kind = {
        label: statistics.median(s["final_s"] for s in samples if s["upload"] == label)
        for label, *_ in UPLOADS[: min(uploads, len(UPLOADS))]
    }
    return {
        "uploads": len(samples),
        "p50_s": statistics.median(finals),
        "p95_s": percentile(finals, 95),
        "max_s": max(finals),
        "submit_p50_s": statistics.median(s["submit_s"] for s in samples),
        "median_by_upload": by_kind,
        "wrong_final_state": [s for s in samples if s["state"] != s["expected"]],
        "samples": samples,
    }
