"""`facegate backlog`: the preview runs the service's decision on every backlog row and writes
nothing; `--apply` records the operator's confirmation where the service reads it. A fake NocoDB,
real face workers."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from app.commands.backlog import BACKLOG_DONE, BACKLOG_MISCONFIGURED, run_backlog
from app.config import STORE_FILE, Settings
from app.moderation.backlog import BacklogStore
from app.moderation.rows import new_job, parse_row
from app.outcomes import Decision, HoldReason, Reason
from harness.images import sample
from harness.loop import FIELDS
from tests.utils.erasure import on_disk
from tests.utils.fake_nocodb import BASE, TABLE, FakeNocoDB
from tests.utils.stores import fresh_stores

CUT_OFF = datetime(2026, 1, 1, tzinfo=UTC)  # the fake's rows are created then


def _settings(tmp_path: Path, reference_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "_env_file": None,
        "reference_dir": reference_dir,
        "data_dir": tmp_path / "data",
        "workers": 1,
        "nocodb_url": BASE,
        "nocodb_api_token": "token",
        "nocodb_table_id": TABLE,
        "backlog_before": CUT_OFF,
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


def _backlog(settings: Settings, fake: FakeNocoDB, *, apply: bool = False) -> tuple[int, str]:
    out = io.StringIO()
    transport = httpx.MockTransport(fake.handler)
    code = asyncio.run(
        run_backlog(settings, apply=apply, out=out, progress=io.StringIO(), nocodb_transport=transport)
    )
    return code, out.getvalue()


def _campaign() -> FakeNocoDB:
    """Five rows from before facegate, one after it: the option "Jane Doe" has no politician yet."""
    fake = FakeNocoDB()
    fake.politician_options = [*(fake.politician_options or []), "Jane Doe"]
    fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    fake.add(2, "Barack Obama", ("a.jpg", sample("obama3.jpg")))
    fake.add(3, "obama", ("a.jpg", sample("biden.jpg")))
    fake.add(4, "Jane Doe", ("a.jpg", sample("obama2.jpg")))
    fake.add(5, "biden", ("a.png", sample("cat.png")))
    fake.add(6, "obama", ("a.jpg", sample("biden.jpg")))["CreatedAt"] = "2026-01-02 00:00:00+00:00"
    return fake


def test_the_preview_counts_per_politician_and_writes_nothing(tmp_path: Path, reference_dir: Path) -> None:
    fake = _campaign()
    uploads = on_disk(fake, tmp_path / "nc")  # where provenance reads when each picture was written
    code, out = _backlog(_settings(tmp_path, reference_dir, nocodb_uploads_dir=uploads), fake)
    assert code == BACKLOG_DONE
    lines = out.splitlines()
    assert (
        lines[0]
        == "backlog: 5 rows created at or before 2026-01-01 00:00:00+00:00 that facegate has not decided"
    )
    table = [
        line.split()
        for line in lines
        if line.split()[:1] in (["politician"], ["obama"], ["biden"], ["Jane"], ["total"])
    ]
    assert table == [
        ["politician", "approved", "review", "deleted", "held"],
        ["obama", "2", "0", "1", "0"],
        ["Jane", "Doe", "0", "0", "0", "1"],
        ["biden", "0", "0", "1", "0"],
        ["total", "2", "0", "2", "1"],
    ]
    assert "deleted: no_match 1, no_face 1" in lines
    assert "held: unknown_option 1" in lines
    assert any("Option 'Jane Doe' of 'Politician' names no politician" in line for line in lines)
    assert fake.actions() == [] and len(fake.rows) == 6
    assert not (tmp_path / "data" / STORE_FILE).exists()  # no database made, nothing logged


def test_rows_facegate_decided_are_left_out(tmp_path: Path, reference_dir: Path) -> None:
    fake = _campaign()
    settings = _settings(tmp_path, reference_dir)
    with fresh_stores(tmp_path / "data" / STORE_FILE) as stores:
        job = new_job(TABLE, parse_row(fake.rows[3], FIELDS))
        stores.decisions.record_decision(
            row_key=job.row_key,
            table_id=TABLE,
            row_id=3,
            politician="obama",
            decision=Decision.REJECTED,
            reason=Reason.NO_MATCH,
            detail=None,
            distances=[],
        )
    code, out = _backlog(settings, fake)
    assert code == BACKLOG_DONE
    assert "backlog: 4 rows" in out and "(not counted: 1 already decided by facegate)" in out


def test_apply_records_the_confirmation_and_releases_held_backlog_rows(
    tmp_path: Path, reference_dir: Path
) -> None:
    fake = _campaign()
    settings = _settings(tmp_path, reference_dir)
    assert _backlog(settings, fake, apply=True)[0] == BACKLOG_MISCONFIGURED  # facegate never ran here
    with fresh_stores(tmp_path / "data" / STORE_FILE) as stores:
        stores.queue.enqueue([new_job(TABLE, parse_row(fake.rows[1], FIELDS))], source="sweep")
        (job,) = stores.queue.claim(1)
        stores.queue.hold(job, HoldReason.BACKLOG, "backlog")
    code, out = _backlog(settings, fake, apply=True)
    assert code == BACKLOG_DONE
    assert "confirmed: facegate decides it now; 1 held rows queued again" in out
    with fresh_stores(tmp_path / "data" / STORE_FILE) as stores:
        assert BacklogStore(stores.db).confirmed(TABLE, CUT_OFF.timestamp())
        assert stores.queue.held() == [] and stores.queue.counts()["queued"] == 1
    assert "was already confirmed" in _backlog(settings, fake, apply=True)[1]
    assert fake.calls == []  # NocoDB is not asked anything


def test_without_a_backlog_or_settings(
    tmp_path: Path, reference_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _backlog(_settings(tmp_path, reference_dir, backlog_before=None), FakeNocoDB())
    assert code == BACKLOG_DONE and out.startswith("no backlog: FACEGATE_BACKLOG_BEFORE is not set")
    code, _ = _backlog(_settings(tmp_path, reference_dir, nocodb_table_id=None), FakeNocoDB())
    assert code == BACKLOG_MISCONFIGURED
    assert "FACEGATE_NOCODB_TABLE_ID not set" in capsys.readouterr().err
