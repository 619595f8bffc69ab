"""The decision log (table ``decisions``): one verdict per upload, and what was done about it.

It keeps no image bytes and no face encodings: distances only. The verdict is recorded before any
action, so a job replayed after a crash acts on the logged verdict instead of deciding again.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass

from app.db import Database, newest_first
from app.outcomes import Action, Decision, Reason

__all__ = ["DecisionLog", "DecisionRecord"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY,
    row_key TEXT NOT NULL UNIQUE,
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
"""


@dataclass(frozen=True)
class DecisionRecord:
    id: int
    row_key: str
    table_id: str
    row_id: int
    politician: str | None
    decision: Decision
    reason: Reason
    detail: str | None
    distances: list[dict[str, float]]
    action: Action | None
    decided_at: float
    acted_at: float | None


class DecisionLog:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.create(SCHEMA, row_keyed=["decisions"])

    def decision_for(self, row_key: str) -> DecisionRecord | None:
        row = self.db.row("SELECT * FROM decisions WHERE row_key = ?", (row_key,))
        return None if row is None else _decision(row)

    def record_decision(
        self,
        *,
        row_key: str,
        table_id: str,
        row_id: int,
        politician: str | None,
        decision: Decision,
        reason: Reason,
        detail: str | None,
        distances: list[dict[str, float]],
    ) -> DecisionRecord:
        """Log the verdict once; a second call for the same upload returns the first record."""
        with self.db.tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO decisions (row_key, table_id, row_id, politician, decision, reason,"
                " detail, distances_json, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row_key,
                    table_id,
                    row_id,
                    politician,
                    decision.value,
                    reason.value,
                    detail,
                    json.dumps(distances),
                    time.time(),
                ),
            )
            row = db.execute("SELECT * FROM decisions WHERE row_key = ?", (row_key,)).fetchone()
        return _decision(row)

    def record_action(self, row_key: str, action: Action) -> None:
        """Record what was done in NocoDB."""
        with self.db.tx() as db:
            db.execute(
                "UPDATE decisions SET action = ?, acted_at = ? WHERE row_key = ?",
                (action.value, time.time(), row_key),
            )

    def decisions(
        self,
        *,
        row_id: int | None = None,
        decision: Decision | None = None,
        reason: Reason | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[DecisionRecord]:
        filters = [("row_id = ?", row_id), ("decision = ?", decision), ("reason = ?", reason)]
        query, args = newest_first("decisions", filters, limit=limit, before_id=before_id)
        return [_decision(r) for r in self.db.rows(query, args)]

    def prune(self, older_than: float) -> int:
        """Forget decisions older than the epoch ``older_than``."""
        with self.db.tx() as db:
            return db.execute("DELETE FROM decisions WHERE decided_at < ?", (older_than,)).rowcount


def _decision(row: sqlite3.Row) -> DecisionRecord:
    return DecisionRecord(
        id=row["id"],
        row_key=row["row_key"],
        table_id=row["table_id"],
        row_id=row["row_id"],
        politician=row["politician"],
        decision=Decision(row["decision"]),
        reason=Reason(row["reason"]),
        detail=row["detail"],
        distances=json.loads(row["distances_json"]),
        action=None if row["action"] is None else Action(row["action"]),
        decided_at=row["decided_at"],
        acted_at=row["acted_at"],
    )
