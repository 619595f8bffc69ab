"""The backlog: rows a table already held when facegate was attached to it.

Deciding them at once could delete a campaign's uploads for a reason of the set-up (its ministers not
added yet). So ``facegate bootstrap``, attaching to a table with rows, records when the newest of them
was created (``FACEGATE_BACKLOG_BEFORE``); rows created at or before that instant are held (reason
``backlog``) until the operator has seen what facegate would do with them (``facegate backlog``)
and confirmed it (``facegate backlog --apply``). The confirmation is kept in facegate's database,
where every running instance reads it: no restart needed. Rows uploaded after attaching are
moderated as usual. A row without a readable CreatedAt counts as backlog: holding is the safe side.

If facegate's database is lost, so is the confirmation: the backlog rows facegate had not decided
yet are held again (never deleted) until the operator confirms again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import sqlalchemy as sa

from app.db import Database
from app.moderation.holds import Held
from app.moderation.queue import JobQueue
from app.moderation.rows import UploadRow, created_epoch
from app.outcomes import HoldReason
from app.tables import backlog_confirmations as t
from app.tables import backlog_cutoffs as c

__all__ = ["Backlog", "BacklogStore", "in_backlog"]

log = logging.getLogger(__name__)

PREVIEW_AND_APPLY = (
    "`facegate backlog` shows what facegate would do with them, `facegate backlog --apply` lets it"
)


def in_backlog(row: UploadRow, before: datetime | None) -> bool:
    """Whether the row was in the table when facegate was attached (``before``: the cut-off)."""
    if before is None:
        return False
    created = created_epoch(row)
    return created is None or created <= before.timestamp()


class BacklogStore:
    """The operator's confirmations (table ``backlog_confirmations``), per table and cut-off, and each
    table's cut-off as the settings gave it (``backlog_cutoffs``)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def cutoff(self, table_id: str, configured: datetime | None, *, record: bool) -> datetime | None:
        """The table's cut-off: the later of ``configured`` (``FACEGATE_BACKLOG_BEFORE``) and the one
        recorded before, so that a setting lost or left out of one instance's settings never lets
        the backlog be decided unseen. With ``record``, ``configured`` is recorded."""
        wanted = configured.timestamp() if configured is not None else None
        with self.db.tx() as conn:
            if record and wanted is not None:
                # Two instances starting at once: whichever writes last, the later cut-off stays.
                now = self.db.clock()
                row = {"table_id": table_id, "before": wanted, "recorded_at": now}
                conn.execute(self.db.insert(c).values(row).on_conflict_do_nothing())
                conn.execute(
                    sa.update(c)
                    .where(c.c.table_id == table_id, c.c.before < wanted)
                    .values(before=wanted, recorded_at=now)
                )
            stored = conn.execute(sa.select(c.c.before).where(c.c.table_id == table_id)).scalar()
        if stored is None or (wanted is not None and wanted >= stored):
            return configured
        kept = datetime.fromtimestamp(stored, UTC)
        log.warning(
            "table %s: the backlog cut-off recorded in facegate's database (%s) is kept, as"
            " FACEGATE_BACKLOG_BEFORE is %s",
            table_id,
            kept.isoformat(sep=" "),
            "unset" if configured is None else "earlier",
        )
        return kept

    def confirmed(self, table_id: str, before: float) -> bool:
        query = sa.select(t.c.confirmed_at).where(t.c.table_id == table_id, t.c.before == before)
        return self.db.scalar(query) is not None

    def confirm(self, table_id: str, before: float) -> bool:
        """Record the confirmation; False when it was already recorded."""
        with self.db.tx() as conn:
            row = {"table_id": table_id, "before": before, "confirmed_at": self.db.clock()}
            # RETURNING, not rowcount: PostgreSQL's driver reports -1 rows for this statement.
            statement = self.db.insert(t).values(row).on_conflict_do_nothing().returning(t.c.table_id)
            inserted = conn.execute(statement).first()
        return inserted is not None


class Backlog:
    """One table's backlog: the rows created at or before ``before`` (None: the table has none)."""

    def __init__(
        self,
        *,
        store: BacklogStore,
        queue: JobQueue,
        table_id: str,
        before: datetime | None,
    ) -> None:
        self.store = store
        self.queue = queue
        self.table_id = table_id
        self.before = before
        self._confirmed = before is None  # once confirmed, always: it is never withdrawn

    async def confirmed(self) -> bool:
        if not self._confirmed and self.before is not None:
            before = self.before.timestamp()
            self._confirmed = await asyncio.to_thread(self.store.confirmed, self.table_id, before)
        return self._confirmed

    async def check(self, row: UploadRow) -> None:
        """Raise ``Held`` for a backlog row while the operator has not confirmed the backlog."""
        if not in_backlog(row, self.before) or await self.confirmed():
            return
        assert self.before is not None
        when = self.before.isoformat(sep=" ")
        detail = f"In the table before facegate was attached (created by {when}): {PREVIEW_AND_APPLY}."
        raise Held(HoldReason.BACKLOG, detail)

    async def release_if_confirmed(self) -> int:
        """Backlog jobs still held once the backlog is confirmed (held by a job that read the
        confirmation a moment before it was given) are queued again; returns how many."""
        if self.before is None or not await self.confirmed():
            return 0
        return await asyncio.to_thread(self.queue.release_held, [HoldReason.BACKLOG])
