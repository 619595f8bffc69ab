"""The purge log (table ``purges``): one entry per upload whose files facegate erased, or could not.

Where the files were (``locations``) is kept only while a purge is still ``pending`` (storage not
configured or unreachable), so that ``facegate purge`` can finish it; once done or refused, only the
counts and the reason stay.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from app.db import Database

__all__ = ["PurgeLog", "PurgeRecord", "PurgeState", "PurgeTrigger"]

SCHEMA = """
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


class PurgeState(StrEnum):
    DONE = "done"
    # Not done yet: the storage is not configured or could not be reached; ``facegate purge`` retries.
    PENDING = "pending"
    # Nothing facegate may delete: a location outside NocoDB's storage.
    REFUSED = "refused"


class PurgeTrigger(StrEnum):
    """Why a row's files are erased."""

    DELETED = "deleted"  # facegate deleted the rejected row
    ALREADY_GONE = "already_gone"  # the rejected row was gone when facegate came to delete it
    DELETED_IN_NOCODB = "deleted_in_nocodb"  # deleted by someone else (after-delete webhook, carousel)
    NOT_APPROVED = "not_approved"  # an approved row that NocoDB no longer shows as approved


@dataclass(frozen=True)
class PurgeRecord:
    id: int
    row_key: str
    table_id: str
    row_id: int
    trigger: PurgeTrigger
    state: PurgeState
    locations: list[str]
    files: int
    bytes: int
    detail: str | None
    updated_at: float


class PurgeLog:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.create(SCHEMA, row_keyed=["purges"])

    def record(
        self,
        *,
        row_key: str,
        table_id: str,
        row_id: int,
        trigger: PurgeTrigger,
        state: PurgeState,
        locations: Sequence[str],
        files: int,
        bytes_removed: int,
        detail: str | None,
    ) -> PurgeRecord:
        """Write the outcome of a purge (a retry adds its counts to the first attempt's)."""
        now = time.time()
        kept = list(locations) if state is PurgeState.PENDING else []
        with self.db.tx() as db:
            db.execute(
                "INSERT INTO purges (row_key, table_id, row_id, trigger, state, locations_json, files,"
                " bytes, detail, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (row_key) DO UPDATE SET state = excluded.state, trigger = excluded.trigger,"
                " locations_json = excluded.locations_json, files = files + excluded.files,"
                " bytes = bytes + excluded.bytes, detail = excluded.detail, updated_at = excluded.updated_at",
                (
                    row_key,
                    table_id,
                    row_id,
                    trigger,
                    state.value,
                    json.dumps(kept),
                    files,
                    bytes_removed,
                    detail,
                    now,
                    now,
                ),
            )
            row = db.execute("SELECT * FROM purges WHERE row_key = ?", (row_key,)).fetchone()
        return _record(row)

    def pending(self, limit: int = 500, *, after_id: int = 0) -> list[PurgeRecord]:
        """Pending purges, oldest first, keyset-paged by id (a retry that stays pending keeps its id)."""
        rows = self.db.rows(
            "SELECT * FROM purges WHERE state = 'pending' AND id > ? ORDER BY id LIMIT ?", (after_id, limit)
        )
        return [_record(r) for r in rows]

    def pending_count(self) -> int:
        row = self.db.row("SELECT COUNT(*) FROM purges WHERE state = 'pending'")
        return 0 if row is None else int(row[0])

    def for_row(self, row_key: str) -> PurgeRecord | None:
        row = self.db.row("SELECT * FROM purges WHERE row_key = ?", (row_key,))
        return None if row is None else _record(row)

    def for_rows(self, row_keys: Sequence[str]) -> dict[str, PurgeRecord]:
        """The purges of these uploads, by row key (uploads never purged are absent); one query."""
        # The keys travel as one JSON array: no limit on SQL variables, and the lookup uses row_key's index.
        rows = self.db.rows(
            "SELECT * FROM purges WHERE row_key IN (SELECT value FROM json_each(?))",
            (json.dumps(list(row_keys)),),
        )
        return {r["row_key"]: _record(r) for r in rows}


def _record(row: sqlite3.Row) -> PurgeRecord:
    return PurgeRecord(
        id=row["id"],
        row_key=row["row_key"],
        table_id=row["table_id"],
        row_id=row["row_id"],
        trigger=PurgeTrigger(row["trigger"]),
        state=PurgeState(row["state"]),
        locations=json.loads(row["locations_json"]),
        files=row["files"],
        bytes=row["bytes"],
        detail=row["detail"],
        updated_at=row["updated_at"],
    )
