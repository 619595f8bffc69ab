"""The carousel's approvals (table ``approvals``): the uploads it shows, and their withdrawals.

Only the carousel writes here. Moderation publishes an approved row and the carousel withdraws rows
that left NocoDB; a withdrawn approval stays (``removed_at``) until retention forgets it, so that
the list's ETag changes when something disappears.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.db import Database, newest_first

__all__ = ["Approval", "ApprovalStore", "ApprovalsVersion", "NewApproval"]

SCHEMA = """
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
"""


@dataclass(frozen=True)
class NewApproval:
    """An approved NocoDB row, as moderation hands it to the carousel."""

    row_key: str
    table_id: str
    row_id: int
    politician: str
    attachments: list[dict[str, Any]]


@dataclass(frozen=True)
class Approval:
    id: int
    row_key: str
    table_id: str
    row_id: int
    politician: str
    attachments: list[dict[str, Any]]
    approved_at: float


@dataclass(frozen=True)
class ApprovalsVersion:
    """Changes whenever an approval is added or removed: the carousel's ETag and Last-Modified."""

    live: int
    last_id: int
    changed_at: float


class ApprovalStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.create(SCHEMA, row_keyed=["approvals"])

    def add(self, approval: NewApproval) -> int:
        """The approval's id; idempotent: publishing the same upload again changes nothing, unless it
        was withdrawn (a moderator approved it again): then it is a new approval, the newest."""
        with self.db.tx() as db:
            db.execute(
                "UPDATE approvals SET row_key = row_key || '~' || id"
                " WHERE row_key = ? AND removed_at IS NOT NULL",
                (approval.row_key,),
            )
            db.execute(
                "INSERT OR IGNORE INTO approvals (row_key, table_id, row_id, politician,"
                " attachments_json, approved_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    approval.row_key,
                    approval.table_id,
                    approval.row_id,
                    approval.politician,
                    json.dumps(approval.attachments),
                    time.time(),
                ),
            )
            row = db.execute("SELECT id FROM approvals WHERE row_key = ?", (approval.row_key,)).fetchone()
        return int(row[0])

    def approvals(
        self, *, politician: str | None = None, limit: int = 50, before_id: int | None = None
    ) -> list[Approval]:
        """Approved uploads still live, newest first."""
        query, args = newest_first(
            "approvals",
            [("politician = ?", politician)],
            limit=limit,
            before_id=before_id,
            where="removed_at IS NULL",
        )
        return [_approval(r) for r in self.db.rows(query, args)]

    def approval(self, approval_id: int) -> Approval | None:
        row = self.db.row("SELECT * FROM approvals WHERE id = ? AND removed_at IS NULL", (approval_id,))
        return None if row is None else _approval(row)

    def live(self, approval_ids: Sequence[int]) -> list[Approval]:
        marks = ",".join("?" * len(approval_ids))
        rows = self.db.rows(
            f"SELECT * FROM approvals WHERE id IN ({marks}) AND removed_at IS NULL ORDER BY id",
            tuple(approval_ids),
        )
        return [_approval(r) for r in rows]

    def live_ids_of_rows(self, table_id: str, row_ids: Sequence[int]) -> list[int]:
        """The live approvals of these row Ids (at most one upload per row is shown)."""
        marks = ",".join("?" * len(row_ids))
        rows = self.db.rows(
            f"SELECT id FROM approvals WHERE table_id = ? AND row_id IN ({marks}) AND removed_at IS NULL",
            (table_id, *row_ids),
        )
        return [r[0] for r in rows]

    def shows(self, row_key: str) -> bool:
        return (
            self.db.row("SELECT 1 FROM approvals WHERE row_key = ? AND removed_at IS NULL", (row_key,))
            is not None
        )

    def live_keys(self, table_id: str) -> dict[str, int]:
        """Row key -> approval id of the live approvals of one table."""
        rows = self.db.rows(
            "SELECT row_key, id FROM approvals WHERE table_id = ? AND removed_at IS NULL", (table_id,)
        )
        return {r[0]: r[1] for r in rows}

    def remove(self, approval_ids: Sequence[int]) -> None:
        """Withdraw; where the files were is forgotten at once (the upload left NocoDB)."""
        now = time.time()
        with self.db.tx() as db:
            db.executemany(
                "UPDATE approvals SET removed_at = ?, attachments_json = '[]' WHERE id = ?",
                [(now, i) for i in approval_ids],
            )

    def version(self) -> ApprovalsVersion:
        row = self.db.row(
            "SELECT COUNT(*) FILTER (WHERE removed_at IS NULL), COALESCE(MAX(id), 0),"
            " MAX(COALESCE(MAX(approved_at), 0), COALESCE(MAX(removed_at), 0)) FROM approvals"
        )
        assert row is not None  # an aggregate always answers one row
        return ApprovalsVersion(live=row[0], last_id=row[1], changed_at=row[2])

    def prune(self, older_than: float) -> int:
        """Forget approvals withdrawn before the epoch ``older_than``; live ones stay."""
        with self.db.tx() as db:
            return db.execute(
                "DELETE FROM approvals WHERE removed_at IS NOT NULL AND removed_at < ?", (older_than,)
            ).rowcount


def _approval(row: sqlite3.Row) -> Approval:
    return Approval(
        id=row["id"],
        row_key=row["row_key"],
        table_id=row["table_id"],
        row_id=row["row_id"],
        politician=row["politician"],
        attachments=json.loads(row["attachments_json"]),
        approved_at=row["approved_at"],
    )
