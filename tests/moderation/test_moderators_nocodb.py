"""The review band and moderators' decisions on the real NocoDB: a borderline upload waits as
``review``; a moderator settles it in NocoDB's grid (a PATCH with the API token, as the grid sends it)
and facegate follows through the after-update webhook."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.moderation.rows import parse_row, row_key
from harness.images import ROOT, sample
from harness.loop import FIELDS, Loop, running_loop
from harness.nocodb import LocalNocoDB

# obama2.jpg is about 0.38 from obama's references, about 0.3 below his tolerance: inside a band
# this wide around it. obama's profile.toml has a band of its own, which comes before
# FACEGATE_REVIEW_BAND: this facegate reads a copy of the references with the wide band written in.
WIDE_BAND = 0.35


def _references_with_wide_band(folder: Path) -> Path:
    shutil.copytree(ROOT / "reference_faces", folder)
    profile = folder / "obama" / "profile.toml"
    lines = profile.read_text().splitlines()
    kept = [line for line in lines if not line.startswith("review_band")]
    profile.write_text("\n".join([*kept, f"review_band = {WIDE_BAND}", ""]))
    return folder


@pytest.fixture(scope="module")
def loop(nocodb: LocalNocoDB, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    workdir = tmp_path_factory.mktemp("facegate")
    references = _references_with_wide_band(tmp_path_factory.mktemp("refs") / "reference_faces")
    # The sweep is off: what is followed here is followed through the webhook. A moderator's
    # rejection is carried out at once (its grace period: tests/moderation/test_review_notes_nocodb.py).
    env = {
        "FACEGATE_REFERENCE_DIR": str(references),
        "FACEGATE_SWEEP_INTERVAL_SECONDS": "0",
        "FACEGATE_MODERATOR_GRACE_SECONDS": "0",
    }
    with running_loop(nocodb, workdir, base_title="moderators", extra_env=env) as running:
        yield running


def _status(loop: Loop, row: dict[str, Any]) -> str | None:
    current = loop.row(row["Id"])
    return None if current is None else current.get(FIELDS.status)


def _in_review(loop: Loop) -> dict[str, Any]:
    row = loop.submit("obama", sample("obama2.jpg"))
    loop.until(lambda: _status(loop, row) == "review", "never set to review")
    return row


def _moderator_sets(loop: Loop, row: dict[str, Any], status: str) -> None:
    with loop.api() as api:
        records = f"/api/v2/tables/{loop.setup.table_id}/records"
        api.patch(records, json={"Id": row["Id"], FIELDS.status: status}).raise_for_status()


def _decisions(loop: Loop, row: dict[str, Any]) -> list[tuple[str, str, str, str | None]]:
    key = row_key(loop.setup.table_id, parse_row(row, FIELDS))
    return [
        (d["source"], d["decision"], d["reason"], d["action"])
        for d in loop.decisions(row["Id"])
        if d["row_key"] == key
    ]


def _shown(loop: Loop) -> list[int]:
    items = httpx.get(f"{loop.facegate.url}/approved", timeout=10).json()["items"]
    return [item["id"] for item in items]


def test_a_borderline_upload_waits_until_a_moderator_approves_it(loop: Loop) -> None:
    before = _shown(loop)
    row = _in_review(loop)
    time.sleep(1)  # facegate's own Status write fired an update event: it must change nothing
    assert _shown(loop) == before
    assert _decisions(loop, row) == [("facegate", "review", "near_tolerance", "review")]
    _moderator_sets(loop, row, "approved")
    shown = loop.until(lambda: (now := _shown(loop)) != before and now, "not published")
    assert len(shown) == len(before) + 1
    thumbnail = httpx.get(f"{loop.facegate.url}/approved/{shown[0]}/thumbnail", timeout=10)
    assert thumbnail.status_code == 200 and thumbnail.content[:2] == b"\xff\xd8"
    assert _decisions(loop, row) == [
        ("moderator", "approved", "moderator", "approved"),
        ("facegate", "review", "near_tolerance", "review"),
    ]
    assert _status(loop, row) == "approved"  # never overridden


def test_a_moderator_rejects_an_upload_in_review(loop: Loop) -> None:
    before = _shown(loop)
    row = _in_review(loop)
    _moderator_sets(loop, row, "rejected")
    loop.until(lambda: loop.row(row["Id"]) is None, "not deleted")
    decided = loop.until(
        lambda: (d := _decisions(loop, row)) and d[0][3] is not None and d, "no moderator action"
    )
    assert decided[0] == ("moderator", "rejected", "moderator", "deleted")
    assert _shown(loop) == before


def test_a_moderator_withdraws_a_published_upload(loop: Loop) -> None:
    row = _in_review(loop)
    before = _shown(loop)
    _moderator_sets(loop, row, "approved")
    published = loop.until(lambda: (now := _shown(loop)) != before and now[0], "not published")
    _moderator_sets(loop, row, "rejected")  # changed their mind
    loop.until(lambda: loop.row(row["Id"]) is None, "not deleted")
    loop.until(lambda: published not in _shown(loop), "still on the carousel")


def test_a_moderator_deletes_an_upload_in_review_and_its_files_are_erased(loop: Loop) -> None:
    # NocoDB's own delete event names the row with its key: checked with NocoDB (gone), then erased.
    row = _in_review(loop)
    key = row_key(loop.setup.table_id, parse_row(row, FIELDS))
    with loop.api() as api:
        records = f"/api/v2/tables/{loop.setup.table_id}/records"
        api.request("DELETE", records, json=[{"Id": row["Id"]}]).raise_for_status()

    def purge() -> dict[str, Any] | None:
        decided = [d for d in loop.decisions(row["Id"]) if d["row_key"] == key]
        found = decided[-1]["purge"] if decided else None
        return found if found is not None and found["state"] == "done" else None

    done = loop.until(purge, "files not erased")
    assert done["trigger"] == "deleted_in_nocodb" and done["files"] >= 1
