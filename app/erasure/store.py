"""The purge log (table ``purges``): one entry per upload whose files facegate erased, or could not.

Where the files were (``locations``) is kept only while a purge is still ``pending`` (storage not
configured or unreachable) or ``kept`` (the row is still in NocoDB), so that it can be finished later;
once done or refused, only the counts and the reason stay.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from app.db import Database, in_chunks
from app.tables import purges as t

__all__ = ["PurgeLog", "PurgeRecord", "PurgeState", "PurgeTrigger"]


class PurgeState(StrEnum):
    DONE = "done"
    # Not done yet: the storage is not configured or could not be reached; ``facegate purge`` retries.
    PENDING = "pending"
    # Nothing facegate may delete: a location outside NocoDB's storage.
    REFUSED = "refused"
    # Not done while the row is still in NocoDB (its approval withdrawn): done when the row leaves.
    KEPT = "kept"


# What the eraser looks at again: everything but ``done`` and ``refused``.
WAITING = (PurgeState.PENDING.value, PurgeState.KEPT.value)


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
        now = self.db.clock()
        kept = list(locations) if state.value in WAITING else []
        insert = self.db.insert(t).values(
            row_key=row_key,
            table_id=table_id,
            row_id=row_id,
            trigger=trigger.value,
            state=state.value,
            locations_json=json.dumps(kept),
            files=files,
            bytes=bytes_removed,
            detail=detail,
            created_at=now,
            updated_at=now,
        )
        new = insert.excluded
        upsert = insert.on_conflict_do_update(
            index_elements=[t.c.row_key],
            set_={
                "state": new.state,
                "trigger": new.trigger,
                "locations_json": new.locations_json,
                "files": t.c.files + new.files,
                "bytes": t.c.bytes + new.bytes,
                "detail": new.detail,
                "updated_at": new.updated_at,
            },
        )
        with self.db.tx() as conn:
            row = conn.execute(upsert.returning(*t.c)).mappings().one()
        return _record(row)

    def pending(self, limit: int = 500, *, after_id: int = 0) -> list[PurgeRecord]:
        """Pending purges, oldest first, keyset-paged by id (a retry that stays pending keeps its id)."""
        query = (
            sa.select(t)
            .where(t.c.state == PurgeState.PENDING.value, t.c.id > after_id)
            .order_by(t.c.id)
            .limit(limit)
        )
        return [_record(row) for row in self.db.rows(query)]

    def waiting(self, limit: int = 500, *, after_id: int = 0) -> list[PurgeRecord]:
        """Pending and kept purges, oldest first, keyset-paged by id."""
        query = sa.select(t).where(t.c.state.in_(WAITING), t.c.id > after_id).order_by(t.c.id).limit(limit)
        return [_record(row) for row in self.db.rows(query)]

    def pending_count(self) -> int:
        return int(self.db.scalar(sa.select(sa.func.count()).where(t.c.state == PurgeState.PENDING.value)))

    def for_row(self, row_key: str) -> PurgeRecord | None:
        row = self.db.row(sa.select(t).where(t.c.row_key == row_key))
        return None if row is None else _record(row)

    def for_rows(self, row_keys: Sequence[str]) -> dict[str, PurgeRecord]:
        """The purges of these uploads, by row key (uploads never purged are absent)."""
        found: dict[str, PurgeRecord] = {}
        for chunk in in_chunks(row_keys):
            for row in self.db.rows(sa.select(t).where(t.c.row_key.in_(chunk))):
                found[row["row_key"]] = _record(row)
        return found


def _record(row: RowMapping) -> PurgeRecord:
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
