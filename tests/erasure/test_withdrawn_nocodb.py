"""Approved, withdrawn, then deleted, on the real NocoDB (issue 26, point 2): the upload's files are
erased once its row has left NocoDB, whatever happened before. Its purge, asked for while the row was
still there, keeps the files (``kept``) and is looked at again when the row leaves."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.erasure.local import stored_location
from app.moderation.rows import parse_row, row_key
from harness.images import sample
from harness.loop import FIELDS, Loop, running_loop
from harness.nocodb import LocalNocoDB

# The sweep, which withdraws what NocoDB no longer shows as approved, every two seconds.
SWEEP_SECONDS = 2
RUNS = 5  # approved -> rejected raced facegate's own DELETE in 3 of 5 runs


@pytest.fixture(scope="module")
def loop(nocodb: LocalNocoDB, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    workdir = tmp_path_factory.mktemp("facegate")
    # A moderator's rejection is carried out at once: no grace period (what these runs race).
    env = {"FACEGATE_MODERATOR_GRACE_SECONDS": "0"}
    with running_loop(
        nocodb, workdir, base_title="withdrawn", sweep_seconds=SWEEP_SECONDS, extra_env=env
    ) as running:
        yield running


def _approved(loop: Loop) -> tuple[dict[str, Any], list[Path]]:
    """An approved upload, and its original and three thumbnails on NocoDB's disk."""
    row = loop.submit("obama", sample("obama2.jpg"))
    loop.wait_final(row, "approved")
    location = stored_location(row[FIELDS.image][0])
    assert location is not None
    thumbnails = loop.nocodb.uploads_dir.parent / "thumbnails" / location
    loop.until(lambda: thumbnails.is_dir() and len(list(thumbnails.iterdir())) == 3, "no thumbnails")
    return row, [loop.nocodb.uploads_dir / location, *thumbnails.iterdir()]


def _moderator_sets(loop: Loop, row: dict[str, Any], status: str) -> None:
    with loop.api() as api:
        records = f"/api/v2/tables/{loop.setup.table_id}/records"
        api.patch(records, json={"Id": row["Id"], FIELDS.status: status}).raise_for_status()


def _moderator_deletes(loop: Loop, row: dict[str, Any]) -> None:
    with loop.api() as api:
        records = f"/api/v2/tables/{loop.setup.table_id}/records"
        api.request("DELETE", records, json=[{"Id": row["Id"]}]).raise_for_status()


def _purge(loop: Loop, row: dict[str, Any]) -> dict[str, Any] | None:
    key = row_key(loop.setup.table_id, parse_row(row, FIELDS))
    purges = [d["purge"] for d in loop.decisions(row["Id"]) if d["row_key"] == key and d["purge"]]
    return purges[0] if purges else None


def _shown(loop: Loop) -> int:
    return len(httpx.get(f"{loop.facegate.url}/approved", timeout=10).json()["items"])


def test_set_back_to_review_then_deleted_is_erased(loop: Loop) -> None:
    row, files = _approved(loop)
    shown = _shown(loop)
    _moderator_sets(loop, row, "review")
    loop.until(lambda: _shown(loop) == shown - 1, "never withdrawn by the sweep")
    kept = loop.until(lambda: (p := _purge(loop, row)) and p["state"] == "kept" and p, "purge not kept")
    assert kept["files"] == 0 and all(f.exists() for f in files)  # the row is still in NocoDB
    time.sleep(2 * SWEEP_SECONDS)  # sweeps meanwhile change nothing
    assert all(f.exists() for f in files)
    _moderator_deletes(loop, row)
    loop.until(lambda: not any(f.exists() for f in files), "files left after the deletion")
    done = loop.until(lambda: (p := _purge(loop, row)) and p["state"] == "done" and p, "purge not done")
    assert done["files"] == len(files) and done["trigger"] == "deleted_in_nocodb"


def test_withdrawn_by_the_sweep_then_deleted_is_erased(loop: Loop) -> None:
    # A moderator empties the Status of an approved row: the sweep withdraws it; deleted later.
    row, files = _approved(loop)
    shown = _shown(loop)
    _moderator_sets(loop, row, "")
    loop.until(lambda: _shown(loop) == shown - 1, "never withdrawn by the sweep")
    loop.until(lambda: (p := _purge(loop, row)) and p["state"] == "kept", "purge not kept")
    _moderator_deletes(loop, row)
    loop.until(lambda: not any(f.exists() for f in files), "files left after the deletion")


@pytest.mark.parametrize("run", range(RUNS))
def test_approved_then_rejected_is_erased(loop: Loop, run: int) -> None:
    row, files = _approved(loop)
    _moderator_sets(loop, row, "rejected")
    loop.until(lambda: loop.row(row["Id"]) is None, "not deleted")
    loop.until(lambda: not any(f.exists() for f in files), f"run {run}: files left")
    done = loop.until(lambda: (p := _purge(loop, row)) and p["state"] == "done" and p, "purge not done")
    assert done["files"] == len(files)
