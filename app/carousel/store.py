"""The carousel's approvals (table ``approvals``): the uploads it shows, and their withdrawals; and
the JPEG renditions it serves of them (table ``renditions``).

Only the carousel writes here. Moderation publishes an approved row and the carousel withdraws rows
that left NocoDB; a withdrawn approval stays (``removed_at``) until retention forgets it, so that
the list's ETag changes when something disappears. Its renditions are deleted with the withdrawal,
in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from app.db import Database, in_chunks, newest_first
from app.faces.renditions import Rendition
from app.tables import approvals as t
from app.tables import renditions as r

__all__ = ["Approval", "ApprovalStore", "ApprovalsVersion", "NewApproval"]

LIVE = t.c.removed_at.is_(None)


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

    def add(self, approval: NewApproval, renditions: Mapping[Rendition, bytes] | None = None) -> int:
        """The approval's id; idempotent: publishing the same upload again changes nothing, unless it
        was withdrawn (a moderator approved it again): then it is a new approval, the newest.
        ``renditions`` (JPEGs) are kept with it, replacing any it had."""
        with self.db.tx() as conn:
            conn.execute(
                sa.update(t)
                .where(t.c.row_key == approval.row_key, ~LIVE)
                .values(row_key=t.c.row_key + "~" + sa.cast(t.c.id, sa.Text))
            )
            conn.execute(
                self.db.insert(t)
                .values(
                    row_key=approval.row_key,
                    table_id=approval.table_id,
                    row_id=approval.row_id,
                    politician=approval.politician,
                    attachments_json=json.dumps(approval.attachments),
                    approved_at=self.db.clock(),
                )
                .on_conflict_do_nothing()
            )
            approval_id = int(
                conn.execute(sa.select(t.c.id).where(t.c.row_key == approval.row_key)).scalar_one()
            )
            if renditions:
                self._keep(conn, approval_id, renditions)
        return approval_id

    def keep_renditions(self, approval_id: int, renditions: Mapping[Rendition, bytes]) -> bool:
        """Keep renditions made after the approval (on first request); False if it was withdrawn
        meanwhile, and then nothing is kept."""
        with self.db.tx() as conn:
            live = conn.execute(sa.select(t.c.id).where(t.c.id == approval_id, LIVE)).first()
            if live is not None:
                self._keep(conn, approval_id, renditions)
        return live is not None

    def _keep(self, conn: sa.Connection, approval_id: int, renditions: Mapping[Rendition, bytes]) -> None:
        # Another instance may have made them too (the same bytes): the last one stays.
        insert = self.db.insert(r)
        conn.execute(
            insert.on_conflict_do_update(
                index_elements=[r.c.approval_id, r.c.rendition], set_={"jpeg": insert.excluded.jpeg}
            ),
            [
                {"approval_id": approval_id, "rendition": name, "jpeg": jpeg}
                for name, jpeg in renditions.items()
            ],
        )

    def rendition(self, approval_id: int, name: Rendition) -> bytes | None:
        """A live approval's rendition, None if it has none (yet)."""
        jpeg = self.db.scalar(
            sa.select(r.c.jpeg)
            .join(t, t.c.id == r.c.approval_id)
            .where(r.c.approval_id == approval_id, r.c.rendition == name, LIVE)
        )
        return None if jpeg is None else bytes(jpeg)

    def approvals(
        self, *, politician: str | None = None, limit: int = 50, before_id: int | None = None
    ) -> list[Approval]:
        """Approved uploads still live, newest first."""
        query = newest_first(
            t, [(t.c.politician == politician, politician)], limit=limit, before_id=before_id, where=LIVE
        )
        return [_approval(row) for row in self.db.rows(query)]

    def approval(self, approval_id: int) -> Approval | None:
        row = self.db.row(sa.select(t).where(t.c.id == approval_id, LIVE))
        return None if row is None else _approval(row)

    def live(self, approval_ids: Sequence[int]) -> list[Approval]:
        found: list[Approval] = []
        for chunk in in_chunks(approval_ids):
            found += [_approval(row) for row in self.db.rows(sa.select(t).where(t.c.id.in_(chunk), LIVE))]
        return sorted(found, key=lambda approval: approval.id)

    def live_ids_of_rows(self, table_id: str, row_ids: Sequence[int]) -> list[int]:
        """The live approvals of these row Ids (at most one upload per row is shown)."""
        found: list[int] = []
        for chunk in in_chunks(row_ids):
            query = sa.select(t.c.id).where(t.c.table_id == table_id, t.c.row_id.in_(chunk), LIVE)
            found += [row["id"] for row in self.db.rows(query)]
        return found

    def shows(self, row_key: str) -> bool:
        return self.db.row(sa.select(t.c.id).where(t.c.row_key == row_key, LIVE)) is not None

    def live_keys(self, table_id: str) -> dict[str, int]:
        """Row key -> approval id of the live approvals of one table."""
        rows = self.db.rows(sa.select(t.c.row_key, t.c.id).where(t.c.table_id == table_id, LIVE))
        return {row["row_key"]: row["id"] for row in rows}

    def remove(self, approval_ids: Sequence[int]) -> None:
        """Withdraw; where the files were is forgotten at once (the upload left NocoDB), and the
        renditions are deleted."""
        now = self.db.clock()
        with self.db.tx() as conn:
            for chunk in in_chunks(approval_ids):
                conn.execute(
                    sa.update(t).where(t.c.id.in_(chunk)).values(removed_at=now, attachments_json="[]")
                )
                conn.execute(sa.delete(r).where(r.c.approval_id.in_(chunk)))

    def version(self) -> ApprovalsVersion:
        row = self.db.row(
            sa.select(
                sa.func.count().filter(LIVE).label("live"),
                sa.func.coalesce(sa.func.max(t.c.id), 0).label("last_id"),
                sa.func.coalesce(sa.func.max(t.c.approved_at), 0).label("approved_at"),
                sa.func.coalesce(sa.func.max(t.c.removed_at), 0).label("removed_at"),
            )
        )
        assert row is not None  # an aggregate always answers one row
        changed_at = max(row["approved_at"], row["removed_at"])
        return ApprovalsVersion(live=row["live"], last_id=row["last_id"], changed_at=changed_at)

    def prune(self, older_than: float) -> int:
        """Forget approvals withdrawn before the epoch ``older_than``; live ones stay."""
        with self.db.tx() as conn:
            return conn.execute(sa.delete(t).where(~LIVE, t.c.removed_at < older_than)).rowcount


def _approval(row: RowMapping) -> Approval:
    return Approval(
        id=row["id"],
        row_key=row["row_key"],
        table_id=row["table_id"],
        row_id=row["row_id"],
        politician=row["politician"],
        attachments=json.loads(row["attachments_json"]),
        approved_at=row["approved_at"],
    )
