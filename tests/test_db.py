"""The database the stores share: WAL mode, durable commits, several connections."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.db import Database
from app.moderation.queue import NewJob
from harness.postgres import LocalPostgres
from tests.utils.stores import fresh_stores


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
        assert restarted.queue.counts() == {"queued": 1, "running": 1, "done": 0, "failed": 0, "held": 0}
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


def test_a_database_that_cannot_be_reached_is_an_outage_that_names_no_server() -> None:
    from app.errors import DatabaseUnavailable
    from harness.net import free_port

    with pytest.raises(DatabaseUnavailable) as raised:
        Database(f"postgresql://facegate:s3cret@127.0.0.1:{free_port()}/facegate")
    assert raised.value.status_code == 503
    assert "127.0.0.1" not in raised.value.message and "s3cret" not in raised.value.message


def test_sqlite_is_one_process_and_postgresql_is_shared(tmp_path: Path, postgres: LocalPostgres) -> None:
    sqlite_db = Database(tmp_path / "facegate.db")
    url = postgres.create_database("shared_flag")
    shared = Database(url)
    try:
        assert (sqlite_db.shared, sqlite_db.backend) == (False, "sqlite")
        assert (shared.shared, shared.backend) == (True, "postgresql")
        with sqlite_db.exclusive("sweep") as first, sqlite_db.exclusive("sweep") as second:
            assert first and second  # one process: nothing to take turns with
        with shared.exclusive("sweep") as first, shared.exclusive("sweep") as second:
            assert first and not second  # a second session (another instance) must wait its turn
        with shared.exclusive("sweep") as again:
            assert again  # released with the block
    finally:
        sqlite_db.close()
        shared.close()
        postgres.drop_database("shared_flag")


HOLDER = """
import sys, time
from app.db import Database
db = Database(sys.argv[1])
with db.exclusive("sweep") as held:
    print("held" if held else "refused", flush=True)
    time.sleep(120)
"""


def test_a_killed_instance_loses_the_sweep_lock(postgres: LocalPostgres) -> None:
    url = postgres.create_database("sweep_lock")
    root = Path(__file__).resolve().parents[1]
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    db = Database(url)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        with db.exclusive("sweep") as mine:
            assert not mine
        holder.kill()  # SIGKILL: no unlock, no goodbye to the server
        holder.wait(timeout=30)
        deadline = time.monotonic() + 10
        while True:
            with db.exclusive("sweep") as mine:
                if mine:
                    break
            assert time.monotonic() < deadline, "the dead instance's lock was never released"
            time.sleep(0.1)
    finally:
        holder.kill()
        holder.wait(timeout=30)
        if holder.stdout is not None:
            holder.stdout.close()
        db.close()
        postgres.drop_database("sweep_lock")
