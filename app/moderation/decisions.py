"""The decision log (table ``decisions``): facegate's verdict on each upload, a moderator's decisions
if any, and what was done about each.

It keeps no image bytes and no face encodings: distances only. The verdict is recorded before any
action, so a job replayed after a crash acts on the logged verdict instead of deciding again.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass

from app.db import Database, in_chunks, newest_first
from app.outcomes import Action, Decision, Reason, Source

__all__ = ["DecisionLog", "DecisionRecord"]


SCHEMA = """
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
"""
COLUMNS = (
    "id, row_key, table_id, row_id, politician, decision, reason, detail, distances_json, action,"
    " decided_at, acted_at"
)


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
    source: Source = Source.FACEGATE


class DecisionLog:
    def __init__(self, db: Database) -> None:
        self.db = db
        _upgrade(db)
        db.create(SCHEMA, row_keyed=["decisions"])

    def decision_for(self, row_key: str) -> DecisionRecord | None:
        """facegate's own verdict on the upload."""
        row = self.db.row("SELECT * FROM decisions WHERE row_key = ? AND source = 'facegate'", (row_key,))
        return None if row is None else _decision(row)

    def settled(self, row_key: str) -> DecisionRecord | None:
        """What the upload stands at: a moderator's latest decision, else facegate's."""
        row = self.db.row(
            "SELECT * FROM decisions WHERE row_key = ? ORDER BY source = 'moderator' DESC, id DESC LIMIT 1",
            (row_key,),
        )
        return None if row is None else _decision(row)

    def settled_many(self, row_keys: list[str]) -> dict[str, DecisionRecord]:
        """``settled`` for many uploads at once (the sweep's pages)."""
        found: dict[str, DecisionRecord] = {}
        for chunk, marks in in_chunks(row_keys):
            query = f"SELECT * FROM decisions WHERE row_key IN ({marks}) ORDER BY source = 'moderator', id"
            for row in self.db.rows(query, chunk):
                found[row["row_key"]] = _decision(row)  # the last one wins
        return found

    def awaiting_review(self) -> int:
        """Uploads facegate sent to review that no moderator has decided yet."""
        row = self.db.row(
            "SELECT count(*) FROM decisions AS d WHERE d.source = 'facegate' AND d.action = 'review'"
            " AND NOT EXISTS (SELECT 1 FROM decisions AS m WHERE m.row_key = d.row_key"
            " AND m.source = 'moderator')"
        )
        return int(row[0]) if row else 0

    def record_moderator(
        self, *, row_key: str, table_id: str, row_id: int, politician: str | None, decision: Decision
    ) -> DecisionRecord:
        """Log a moderator's decision, once per upload and decision."""
        with self.db.tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO decisions (row_key, source, table_id, row_id, politician, decision,"
                " reason, distances_json, decided_at) VALUES (?, 'moderator', ?, ?, ?, ?, ?, '[]', ?)",
                (row_key, table_id, row_id, politician, decision.value, Reason.MODERATOR.value, time.time()),
            )
            row = db.execute(
                "SELECT * FROM decisions WHERE row_key = ? AND source = 'moderator' AND decision = ?",
                (row_key, decision.value),
            ).fetchone()
        return _decision(row)

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
            row = db.execute(
                "SELECT * FROM decisions WHERE row_key = ? AND source = 'facegate'", (row_key,)
            ).fetchone()
        return _decision(row)

    def record_action(self, decision_id: int, action: Action) -> None:
        """Record what was done in NocoDB about one decision."""
        with self.db.tx() as db:
            db.execute(
                "UPDATE decisions SET action = ?, acted_at = ? WHERE id = ?",
                (action.value, time.time(), decision_id),
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
        source=Source(row["source"]),
    )


def _upgrade(db: Database) -> None:
    """Files written before moderators could decide: one decision per upload, enforced by the column."""
    table = db.row("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'decisions'")
    if table is None or "row_key TEXT NOT NULL UNIQUE" not in table["sql"]:
        return
    with db.tx() as tx:
        tx.execute("ALTER TABLE decisions RENAME TO decisions_before_sources")
        tx.execute("DROP INDEX IF EXISTS decisions_row")
        # One statement at a time: executescript would commit half-way.
        for statement in SCHEMA.split(";"):
            if statement.strip():
                tx.execute(statement)
        tx.execute(f"INSERT INTO decisions ({COLUMNS}) SELECT {COLUMNS} FROM decisions_before_sources")
        tx.execute("DROP TABLE decisions_before_sources")
