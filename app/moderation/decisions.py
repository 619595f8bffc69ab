"""The decision log (table ``decisions``): facegate's verdict on each upload, a moderator's decisions
if any, and what was done about each.

It keeps no image bytes and no face encodings: distances only. The verdict is recorded before any
action, so a job replayed after a crash acts on the logged verdict instead of deciding again. A log
rebuilt from NocoDB (``app.moderation.restore``) holds facegate's earlier decisions as their stamps
recorded them (``restored``): the decision, reason, politician and time, without distances.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from app.db import Database, in_chunks, newest_first
from app.outcomes import Action, Decision, Reason, Source
from app.tables import decisions as t

__all__ = ["DecisionLog", "DecisionRecord"]

FACEGATE = t.c.source == Source.FACEGATE.value
# A moderator's decisions come after facegate's, and a later one after an earlier one.
SETTLED_ORDER = (sa.case((FACEGATE, 0), else_=1), t.c.id)


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
    # Read back from the row's stamp in NocoDB (the log was rebuilt), not decided by this log's facegate.
    restored: bool = False
    # facegate's line of the moderators' note (``app.moderation.notes``); None for a moderator's or a
    # restored decision.
    note: str | None = None


class DecisionLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def decision_for(self, row_key: str) -> DecisionRecord | None:
        """facegate's own verdict on the upload."""
        row = self.db.row(sa.select(t).where(t.c.row_key == row_key, FACEGATE))
        return None if row is None else _decision(row)

    def settled(self, row_key: str) -> DecisionRecord | None:
        """What the upload stands at: a moderator's latest decision, else facegate's."""
        order = [column.desc() for column in SETTLED_ORDER]
        row = self.db.row(sa.select(t).where(t.c.row_key == row_key).order_by(*order).limit(1))
        return None if row is None else _decision(row)

    def settled_many(self, row_keys: list[str]) -> dict[str, DecisionRecord]:
        """``settled`` for many uploads at once (the sweep's pages)."""
        found: dict[str, DecisionRecord] = {}
        for chunk in in_chunks(row_keys):
            for row in self.db.rows(sa.select(t).where(t.c.row_key.in_(chunk)).order_by(*SETTLED_ORDER)):
                found[row["row_key"]] = _decision(row)  # the last one wins
        return found

    def awaiting_review(self) -> int:
        """Uploads facegate sent to review that no moderator has decided yet."""
        moderator = t.alias("m")
        decided = sa.exists().where(
            moderator.c.row_key == t.c.row_key, moderator.c.source == Source.MODERATOR.value
        )
        return int(
            self.db.scalar(
                sa.select(sa.func.count()).where(FACEGATE, t.c.action == Action.REVIEW.value, ~decided)
            )
        )

    def record_moderator(
        self, *, row_key: str, table_id: str, row_id: int, politician: str | None, decision: Decision
    ) -> DecisionRecord:
        """Log a moderator's decision, seen in the row's Status: the moderator's latest record when it
        already says so, else a new one. The log keeps a moderator's latest decision of each kind:
        a rejection taken back (``review``) and made again is a new rejection, from now."""
        mine = (t.c.row_key == row_key, t.c.source == Source.MODERATOR.value)
        with self.db.tx() as conn:
            newest = sa.select(t).where(*mine).order_by(t.c.id.desc()).limit(1)
            latest = conn.execute(newest).mappings().first()
            if latest is not None and latest["decision"] == decision.value:
                return _decision(latest)
            conn.execute(sa.delete(t).where(*mine, t.c.decision == decision.value))
        values = _values(row_key, table_id, row_id, politician, decision, Reason.MODERATOR)
        return self._record_once(
            values | {"source": Source.MODERATOR.value, "decided_at": self.db.clock()},
            *mine[1:],
            t.c.decision == decision.value,
        )

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
        note: str | None = None,
    ) -> DecisionRecord:
        """Log the verdict once; a second call for the same upload, by any instance, returns the
        first record."""
        values = _values(row_key, table_id, row_id, politician, decision, reason) | {
            "detail": detail,
            "distances_json": json.dumps(distances),
            "note": note,
            "decided_at": self.db.clock(),
        }
        return self._record_once(values, FACEGATE)

    def record_restored(
        self,
        *,
        row_key: str,
        table_id: str,
        row_id: int,
        politician: str | None,
        decision: Decision,
        reason: Reason,
        decided_at: float,
        action: Action,
        note: str | None = None,
    ) -> DecisionRecord:
        """Log facegate's earlier decision on an upload as its stamp in NocoDB recorded it, with what
        was done then (its Status written) and facegate's line of the row's note: once, as
        ``record_decision``, whose record wins if any."""
        values = _values(row_key, table_id, row_id, politician, decision, reason) | {
            "note": note,
            "decided_at": decided_at,
            "action": action.value,
            "acted_at": self.db.clock(),
            "restored": True,
        }
        return self._record_once(values, FACEGATE)

    def _record_once(self, values: dict[str, object], *same: sa.ColumnElement[bool]) -> DecisionRecord:
        with self.db.tx() as conn:
            conn.execute(self.db.insert(t).values(values).on_conflict_do_nothing())
            return _first(conn, t.c.row_key == values["row_key"], *same)

    def record_action(self, decision_id: int, action: Action) -> None:
        """Record what was done in NocoDB about one decision."""
        with self.db.tx() as conn:
            conn.execute(
                sa.update(t)
                .where(t.c.id == decision_id)
                .values(action=action.value, acted_at=self.db.clock())
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
        filters = [
            (t.c.row_id == row_id, row_id),
            (t.c.decision == (decision.value if decision else None), decision),
            (t.c.reason == (reason.value if reason else None), reason),
        ]
        query = newest_first(t, filters, limit=limit, before_id=before_id)
        return [_decision(r) for r in self.db.rows(query)]

    def prune(self, older_than: float) -> int:
        """Forget decisions older than the epoch ``older_than``."""
        with self.db.tx() as conn:
            return conn.execute(sa.delete(t).where(t.c.decided_at < older_than)).rowcount


def _values(
    row_key: str, table_id: str, row_id: int, politician: str | None, decision: Decision, reason: Reason
) -> dict[str, object]:
    """The columns every decision has (no distances unless measured)."""
    return {
        "row_key": row_key,
        "table_id": table_id,
        "row_id": row_id,
        "politician": politician,
        "decision": decision.value,
        "reason": reason.value,
        "distances_json": "[]",
    }


def _first(conn: Connection, *where: sa.ColumnElement[bool]) -> DecisionRecord:
    row = conn.execute(sa.select(t).where(*where)).mappings().one()
    return _decision(row)


def _decision(row: RowMapping) -> DecisionRecord:
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
        restored=bool(row["restored"]),
        note=row["note"],
    )
