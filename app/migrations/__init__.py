"""Schema migrations (Alembic), run at every start by SQLite and PostgreSQL alike.

``versions/`` holds one frozen step per schema change. The first one also adopts files written
before migrations existed (their tables are there, without a version). Instances that start at once
on one PostgreSQL migrate one after the other (an advisory lock held by the migrating transaction).
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

__all__ = ["upgrade"]

log = logging.getLogger(__name__)
# Alembic says which backend it found at every start; facegate says what it changed.
logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)

HERE = Path(__file__).resolve().parent
# pg_advisory_xact_lock's key for "facegate migrates" (any constant of our own).
MIGRATION_LOCK = 0x66616365676174


def config(conn: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = conn
    return cfg


def upgrade(conn: Connection) -> None:
    """Bring the schema to the newest version, inside the caller's transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
    before = MigrationContext.configure(conn).get_current_revision()
    command.upgrade(config(conn), "head")
    after = MigrationContext.configure(conn).get_current_revision()
    if after != before:
        log.info("database schema migrated from %s to %s", before or "nothing", after)
