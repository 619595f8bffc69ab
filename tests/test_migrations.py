"""Schema migrations: both backends reach ``app.tables`` from nothing, files written before
migrations existed are adopted with their data, and instances that start at once migrate once."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.db import Database
from app.moderation.queue import JobState
from app.outcomes import Action, Source
from app.tables import metadata
from tests.utils.stores import fresh_stores

# The SQLite file of the last version before migrations (each store created its own tables).
BEFORE_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    row_key TEXT NOT NULL UNIQUE,
    table_id TEXT NOT NULL,
    row_id INTEGER NOT NULL,
    row_json TEXT NOT NULL,
    source TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    row_gone INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (state, next_attempt_at);


CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY,
    row_key TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'facegate',
    table_id TEXT NOT NULL,
    row_id INTEGER NOT NULL,
    politician TEXT,
    decision TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT,
    distances_json TEXT NOT NULL,
    action TEXT,
    decided_at REAL NOT NULL,
    acted_at REAL
);
CREATE INDEX IF NOT EXISTS decisions_row ON decisions (table_id, row_id);
-- facegate decides an upload once, a moderator may approve it and later reject it (once each).
CREATE UNIQUE INDEX IF NOT EXISTS decisions_once
    ON decisions (row_key, source, (CASE WHEN source = 'facegate' THEN '' ELSE decision END));


CREATE TABLE IF NOT EXISTS approvals (
    id INTEGER PRIMARY KEY,
    row_key TEXT NOT NULL UNIQUE,
    table_id TEXT NOT NULL,
    row_id INTEGER NOT NULL,
    politician TEXT NOT NULL,
    attachments_json TEXT NOT NULL,
    approved_at REAL NOT NULL,
    removed_at REAL
);
CREATE INDEX IF NOT EXISTS approvals_live ON approvals (removed_at, politician, id);


CREATE TABLE IF NOT EXISTS purges (
    id INTEGER PRIMARY KEY,
    row_key TEXT NOT NULL UNIQUE,
    table_id TEXT NOT NULL,
    row_id INTEGER NOT NULL,
    trigger TEXT NOT NULL,
    state TEXT NOT NULL,
    locations_json TEXT NOT NULL,
    files INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    detail TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS purges_state ON purges (state, id);
"""
ROWS = """
INSERT INTO jobs (id, row_key, table_id, row_id, row_json, source, state, attempts, next_attempt_at,
    created_at, updated_at, row_gone) VALUES (3, 't1:1:k', 't1', 1, '{"Id": 1}', 'webhook', 'running', 1,
    1.0, 1.0, 1.0, 0);
INSERT INTO decisions (id, row_key, source, table_id, row_id, politician, decision, reason,
    distances_json, action, decided_at) VALUES (7, 't1:1:k', 'facegate', 't1', 1, 'obama', 'approved',
    'match', '[]', 'approved', 1.0);
INSERT INTO approvals VALUES (5, 't1:1:k', 't1', 1, 'obama', '[]', 1.0, NULL);
INSERT INTO purges VALUES (2, 't1:2:k', 't1', 2, 'deleted', 'pending', '["a"]', 0, 0, NULL, 1.0, 1.0);
"""

pytestmark = pytest.mark.both_backends


# SQLAlchemy cannot reflect an index on an expression: compared by name, and by what it enforces
# (tests/moderation/test_decisions.py, on both backends).
EXPRESSION_INDEXES = {"decisions_once"}
INDEX_NAMES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'index'",
    "postgresql": "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'",
}


def _compared(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return name not in EXPRESSION_INDEXES


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_the_migrations_reach_the_schema(database: Path | str, backend: str) -> None:
    db = Database(database)
    try:
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": _compared})
            assert compare_metadata(context, metadata) == []
            assert context.get_current_revision() == "0007"
            names = set(conn.execute(sa.text(INDEX_NAMES[backend])).scalars())
        assert names >= EXPRESSION_INDEXES
    finally:
        db.close()


def test_instances_that_start_at_once_migrate_once(database: Path | str, backend: str) -> None:
    if backend == "sqlite":
        return  # one process per file (the data folder's lock)
    opened: list[Database] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            opened.append(Database(database))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(opened) == 4
    with opened[0].engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 1
    for db in opened:
        db.close()


def test_a_file_from_before_migrations_is_adopted(tmp_path: Path, backend: str) -> None:
    if backend != "sqlite":
        return  # such files were only ever SQLite's
    path = tmp_path / "facegate.db"
    with sqlite3.connect(path) as old:
        old.executescript(BEFORE_MIGRATIONS + ROWS)
    with fresh_stores(path) as stores:
        (job,) = stores.queue.jobs()
        assert (job.id, job.state, job.lease) == (3, JobState.RUNNING, None)
        assert stores.queue.release_all() == 1  # a stopped process's job, handed back
        record = stores.decisions.settled("t1:1:k")
        assert record is not None and (record.id, record.source, record.action) == (
            7,
            Source.FACEGATE,
            Action.APPROVED,
        )
        assert [a.id for a in stores.approvals.approvals()] == [5]
        assert [p.locations for p in stores.purges.pending()] == [["a"]]
