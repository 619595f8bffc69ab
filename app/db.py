"""facegate's durable state: one SQLite file in ``DATA_DIR`` (WAL mode), shared by the stores.

Each concern owns its tables and their queries: the moderation queue and decision log
(``app.moderation.queue``, ``app.moderation.decisions``) and the carousel's approvals
(``app.carousel.store``). This module only holds the connection they share.

Calls are synchronous and short; async callers run them in a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["MAX_ID", "Database", "in_chunks"]

# SQLite's INTEGER: the largest row, job or approval id a request may name.
MAX_ID = 2**63 - 1


class Database:
    """One SQLite connection, serialised by a lock (SQLite allows one writer at a time anyway)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._row_keyed: set[str] = set()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash (SIGKILL); only power loss can cost the last commits.
        self._db.execute("PRAGMA synchronous=NORMAL")
        # Deleted rows are overwritten, not just unlinked: what retention or erasure removes is gone
        # from the file (``checkpoint`` then moves it out of the write-ahead log too).
        self._db.execute("PRAGMA secure_delete=ON")

    def create(self, schema: str, *, row_keyed: Sequence[str] = ()) -> None:
        """Create a store's tables and indexes if they do not exist yet. ``row_keyed`` names its tables
        whose records belong to one upload by a ``row_key`` column (see ``archive_row_key``)."""
        with self._lock:
            self._db.executescript(schema)
            self._row_keyed.update(row_keyed)

    def add_column(self, table: str, column: str, definition: str) -> None:
        """Add a column that a file written by an earlier version lacks."""
        with self._lock:
            names = {r["name"] for r in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in names:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")

    def archive_row_key(self, db: sqlite3.Connection, key: str, archived: str) -> None:
        """Inside a transaction: move every record of the upload ``key`` to ``archived``, so that a new
        upload that NocoDB gave the same identity starts with nothing of the old one's."""
        for table in sorted(self._row_keyed):
            db.execute(f"UPDATE {table} SET row_key = ? WHERE row_key = ?", (archived, key))

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the file and empty it, so that deleted rows are gone from both."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, taken at once so that readers-turned-writers never deadlock."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def rows(self, query: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(query, args).fetchall()

    def row(self, query: str, args: Sequence[Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._db.execute(query, args).fetchone()
            return row


# SQLite's default limit on a statement's parameters is 999 in older builds.
VALUES_PER_QUERY = 500


def in_chunks(values: Sequence[Any]) -> Iterator[tuple[list[Any], str]]:
    """``values`` in slices small enough for one statement, each with its ``?, ?, ...`` placeholders."""
    for start in range(0, len(values), VALUES_PER_QUERY):
        chunk = list(values[start : start + VALUES_PER_QUERY])
        yield chunk, ",".join("?" * len(chunk))


def newest_first(
    table: str,
    filters: Sequence[tuple[str, object]],
    *,
    limit: int,
    before_id: int | None,
    where: str = "1=1",
) -> tuple[str, list[object]]:
    """``SELECT *`` of ``table`` where ``where`` and the filters hold (a filter whose value is None is
    skipped), newest first, keyset-paged by id."""
    query, args = f"SELECT * FROM {table} WHERE {where}", list[object]()
    for condition, value in filters:
        if value is not None:
            query, args = query + f" AND {condition}", [*args, value]
    if before_id is not None:
        query, args = query + " AND id < ?", [*args, before_id]
    return query + " ORDER BY id DESC LIMIT ?", [*args, limit]
