"""The database the stores share: WAL mode, durable commits, several connections."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from app.db import Database
from app.moderation.queue import NewJob
from tests.support import fresh_stores


def new(n: int) -> NewJob:
    return NewJob(row_key=f"t1:{n}:key{n}", table_id="t1", row_id=n, row={"Id": n})


def test_file_created_in_wal_mode(tmp_path: Path) -> None:
    db_path = tmp_path / "data" / "facegate.db"
    Database(db_path).close()
    assert db_path.exists()
    with sqlite3.connect(db_path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


CRASHING_WRITER = """
import os, sys
from pathlib import Path
from app.db import Database
from app.moderation.decisions import DecisionLog
from app.moderation.queue import JobQueue, NewJob
from app.outcomes import Decision, Reason
db = Database(Path(sys.argv[1]))
queue, log = JobQueue(db), DecisionLog(db)
queue.enqueue([NewJob(f"t1:{n}:key{n}", "t1", n, {"Id": n}) for n in (1, 2)], source="webhook")
[job] = queue.claim(1)
log.record_decision(
    row_key=job.row_key, table_id="t1", row_id=1, politician=None,
    decision=Decision.REJECTED, reason=Reason.NO_FACE, detail=None, distances=[],
)
os._exit(0)  # killed: no close, no checkpoint
"""


def test_state_survives_a_killed_process(tmp_path: Path) -> None:
    db_path = tmp_path / "facegate.db"
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(db_path)], check=True, cwd=root, timeout=60)
    with fresh_stores(db_path) as restarted:
        assert restarted.queue.enqueue([new(1)], source="sweep") == 0
        assert restarted.queue.counts() == {"queued": 1, "running": 1, "done": 0, "failed": 0}
        assert restarted.queue.release_all() == 1
        assert [(j.row_id, j.attempts) for j in restarted.queue.claim(10)] == [(1, 2), (2, 1)]
        assert [(d.row_key, d.reason) for d in restarted.decisions.decisions()] == [("t1:1:key1", "no_face")]


def test_a_second_connection_sees_committed_writes(tmp_path: Path) -> None:
    with fresh_stores(tmp_path / "facegate.db") as first, fresh_stores(tmp_path / "facegate.db") as second:
        first.queue.enqueue([new(1)], source="webhook")
        assert [j.row_id for j in second.queue.claim(5)] == [1]
        assert first.queue.claim(5) == []


def test_what_is_deleted_is_gone_from_the_file(tmp_path: Path) -> None:
    secret = "download/2026/11/22/abc/uploader-holiday_Xy1z2.jpg"
    with fresh_stores(tmp_path / "facegate.db") as stores:
        jobs = [NewJob(f"t1:{n}:k", "t1", n, {"Id": n, "path": f"{secret}-{n}"}) for n in (1, 2, 3)]
        stores.queue.enqueue(jobs, source="webhook")
        (job,) = stores.queue.claim(1)
        stores.queue.finish(job)
        stores.db.checkpoint()
        assert f"{secret}-1".encode() in (tmp_path / "facegate.db").read_bytes()
        assert stores.queue.prune(float("inf")) == 1  # the finished one; the others stay
        stores.db.checkpoint()
        files = [p for p in tmp_path.iterdir() if p.name.startswith("facegate.db")]
        assert all(f"{secret}-1".encode() not in p.read_bytes() for p in files), [p.name for p in files]
        assert f"{secret}-2".encode() in (tmp_path / "facegate.db").read_bytes()
