"""facegate loses its data folder, against the real NocoDB: the next run rebuilds from the stamps
NocoDB keeps (issue 22, point 3).

The first run decides uploads from the public form and follows a moderator; then facegate stops and
its data folder is deleted. Meanwhile rows are forged to pass for approved: a submission through the
public form's JSON that sets Status and a stamp, and rows written through the API with a stamp
copied from an approved row, as is or with its key edited. The second run, on an empty database,
restores every decision and the carousel, writes nothing to NocoDB for them and decides no row
twice; the forged rows are decided as new.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from app.moderation.rows import parse_row, row_key
from harness.facegate import running_facegate
from harness.images import ROOT, sample
from harness.loop import FIELDS, Loop, bootstrap_base, loop_env
from harness.net import free_port
from harness.nocodb import LocalNocoDB
from harness.proxy import CountingProxy

T = TypeVar("T")
# obama2.jpg is about 0.38 from obama's references: a band this wide around his tolerance (about 0.67)
# sends it to review. biden.jpg is Biden's own reference photo: approved as biden. A cat has no face.
WIDE_BAND = 0.35
DECIDED_SECONDS = 90.0
Log = list[tuple[str, str, str, str | None, bool]]


def _references_with_wide_band(folder: Path) -> Path:
    shutil.copytree(ROOT / "reference_faces", folder)
    profile = folder / "obama" / "profile.toml"
    kept = [line for line in profile.read_text().splitlines() if not line.startswith("review_band")]
    profile.write_text("\n".join([*kept, f"review_band = {WIDE_BAND}", ""]))
    return folder


def _until(check: Callable[[], T | None], what: str, loop: Loop) -> T:
    deadline = time.monotonic() + DECIDED_SECONDS
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what}:\n{loop.facegate.log_tail()}"
        time.sleep(0.2)
    return found


def _status(loop: Loop, row_id: int) -> str | None:
    row = loop.row(row_id)
    return "deleted" if row is None else row.get(FIELDS.status)


def _key(loop: Loop, row_id: int) -> str:
    row = loop.row(row_id)
    assert row is not None
    return row_key(loop.setup.table_id, parse_row(row, FIELDS))


def _carousel(loop: Loop) -> list[str]:
    """The politicians of the uploads on the carousel, each with its thumbnail served."""
    items = httpx.get(f"{loop.facegate.url}/approved", timeout=10).json()["items"]
    for item in items:
        thumbnail = httpx.get(f"{loop.facegate.url}{item['thumbnail_url']}", timeout=30)
        assert thumbnail.status_code == 200 and thumbnail.content[:2] == b"\xff\xd8"
    return sorted(item["politician"]["slug"] for item in items)


def _log(loop: Loop, row_id: int) -> Log:
    """Every decision about the row, newest first: source, decision, reason, action, restored."""
    return [
        (d["source"], d["decision"], d["reason"], d["action"], d["restored"]) for d in loop.decisions(row_id)
    ]


def _first_run(loop: Loop) -> dict[str, int]:
    """Uploads through the public form, decided; a moderator approves one in review. Returns the
    row Ids by what became of them."""
    rows = {
        "approved": loop.submit("biden", sample("biden.jpg"))["Id"],
        "review": loop.submit("obama", sample("obama2.jpg"))["Id"],
        "moderated": loop.submit("obama", sample("obama2.jpg"))["Id"],
        "deleted": loop.submit("obama", sample("cat.png"), "cat.png")["Id"],
    }
    finals = {"approved": "approved", "review": "review", "moderated": "review", "deleted": "deleted"}
    _until(lambda: all(_status(loop, rows[w]) == final for w, final in finals.items()), "undecided", loop)
    with loop.api() as api:
        moderator = {"Id": rows["moderated"], FIELDS.status: "approved"}
        api.patch(f"/api/v2/tables/{loop.setup.table_id}/records", json=moderator).raise_for_status()
    _until(lambda: len(_carousel(loop)) == 2, "the moderator's approval is not published", loop)
    return rows


def _forge(loop: Loop, approved: int) -> dict[str, int]:
    """While facegate is down: rows of a picture without a face, passed off as approved with the
    approved row's stamp. Returns their Ids by how they were forged."""
    stamp = (loop.row(approved) or {})[FIELDS.stamp]
    assert stamp and _key(loop, approved) in stamp
    passed_off = {FIELDS.politician: "obama", FIELDS.status: "approved", FIELDS.stamp: stamp}
    response = httpx.post(
        f"{loop.nocodb.url}/api/v2/public/shared-view/{loop.setup.form_uuid}/rows",
        data={"data": json.dumps(passed_off)},
        files={FIELDS.image: ("cat.png", sample("cat.png"), "image/png")},
        timeout=30,
    )
    response.raise_for_status()
    through_form = response.json()["Id"]
    # Both fields are hidden in the form: NocoDB drops them from the submission.
    assert {k: (loop.row(through_form) or {}).get(k) for k in (FIELDS.status, FIELDS.stamp)} == {
        FIELDS.status: None,
        FIELDS.stamp: None,
    }
    with loop.api() as api:
        records = f"/api/v2/tables/{loop.setup.table_id}/records"
        upload = api.post(
            "/api/v2/storage/upload", files={"files": ("cat.png", sample("cat.png"), "image/png")}
        )
        picture: list[dict[str, Any]] = upload.raise_for_status().json()
        created = api.post(records, json=[passed_off | {FIELDS.image: picture}] * 2).raise_for_status()
        copied, edited = (r["Id"] for r in created.json())
        # The copy's key edited to the row's own: the signature still names the approved upload.
        moved = stamp.replace(_key(loop, approved), _key(loop, edited))
        api.patch(records, json={"Id": edited, FIELDS.stamp: moved}).raise_for_status()
    return {"through the form": through_form, "copied": copied, "key edited": edited}


def test_a_lost_data_folder_is_rebuilt_from_nocodb(nocodb: LocalNocoDB, tmp_path: Path) -> None:
    port = free_port()
    setup = bootstrap_base(nocodb.url, f"http://127.0.0.1:{port}", base_title="recovery")
    workdir = tmp_path / "facegate"
    references = _references_with_wide_band(tmp_path / "references" / "reference_faces")
    with CountingProxy(int(nocodb.url.rsplit(":", 1)[1]), latency=0) as proxy:
        env = loop_env(nocodb, setup, workdir, nocodb_url=proxy.url, sweep_seconds=2)
        env["FACEGATE_REFERENCE_DIR"] = str(references)
        with running_facegate(workdir, env, port) as server:
            first = Loop(nocodb=nocodb, setup=setup, facegate=server)
            rows = _first_run(first)
            carousel = _carousel(first)
        shutil.rmtree(workdir / "data")
        forged = _forge(first, rows["approved"])
        writes = len(proxy.writes)

        with running_facegate(workdir, env, port) as server:
            loop = Loop(nocodb=nocodb, setup=setup, facegate=server)

            def rebuilt() -> bool:
                gone = all(_status(loop, row_id) == "deleted" for row_id in forged.values())
                logged = all(_log(loop, rows[what]) for what in ("approved", "review", "moderated"))
                return gone and logged and len(_carousel(loop)) == 2

            _until(rebuilt, "not rebuilt", loop)
            time.sleep(1)  # anything late would show now
            again = [(method, ids) for method, ids, _ in proxy.writes[writes:]]
            verdicts = server.metric("facegate_verdicts_total", source="moderation")
            stamps = {r: server.metric("facegate_stamps_total", result=r) for r in ("restored", "ignored")}
            assert _carousel(loop) == carousel == ["biden", "obama"]
            kept = {what: rows[what] for what in ("approved", "review", "moderated")}
            logs = {what: _log(loop, row_id) for what, row_id in (kept | forged).items()}

    # facegate's decisions restored as the stamps say; the moderator's stands, as the moderator's.
    assert logs["approved"] == [("facegate", "approved", "match", "approved", True)]
    assert logs["review"] == [("facegate", "review", "near_tolerance", "review", True)]
    assert logs["moderated"] == [
        ("moderator", "approved", "moderator", "approved", False),
        ("facegate", "review", "near_tolerance", "review", True),
    ]
    assert [_status(first, rows[what]) for what in ("approved", "review", "moderated")] == [
        "approved",
        "review",
        "approved",
    ]
    # No row decided twice: the faces checked again are the forged rows', decided as new.
    assert verdicts == len(forged)
    for what in forged:
        assert logs[what] == [("facegate", "rejected", "no_face", "deleted", False)], what
    assert stamps == {"restored": 3, "ignored": 2}  # the form's stamp never reached NocoDB
    # Nothing written to NocoDB but the forged rows' deletions, once each.
    assert sorted(again) == sorted(("DELETE", [row_id]) for row_id in forged.values())
