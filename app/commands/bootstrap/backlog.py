"""The backlog an attach finds: the rows the table already holds, which facegate must not decide until
the operator has seen what it would do with them (``facegate backlog``, ``app.moderation.backlog``).

Bootstrap records the cut-off, the newest row's CreatedAt (NocoDB's own clock, to the second), as
``FACEGATE_BACKLOG_BEFORE`` when it attaches to a table for the first time: a rerun on the same table
keeps what the first attach found (rows that came after it are moderated as they come).
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import httpx

from app.commands.bootstrap.errors import nocodb_errors
from app.config import FieldNames
from app.integrations.nocodb.client import NocoDBClient
from app.moderation.rows import created_epoch, parse_row

__all__ = ["BACKLOG_SETTING", "Backlog", "find_backlog"]

logger = logging.getLogger(__name__)

BACKLOG_SETTING: Final = "FACEGATE_BACKLOG_BEFORE"


@dataclass(frozen=True)
class Backlog:
    """The rows a table held when facegate was attached: how many, and the cut-off (None: none)."""

    rows: int
    before: datetime | None

    def setting(self) -> str:
        """``FACEGATE_BACKLOG_BEFORE``'s value: empty when the table held nothing."""
        return self.before.isoformat() if self.before is not None else ""


async def find_backlog(
    nocodb_url: str, api_token: str, table_id: str, *, transport: httpx.AsyncBaseTransport | None = None
) -> Backlog:
    """Count the table's rows and find the newest CreatedAt, paging through Id and CreatedAt only. A
    row without a readable CreatedAt moves the cut-off to now (it is held as backlog anyway)."""
    root = nocodb_url.rstrip("/")
    client = NocoDBClient(base_url=root, api_token=api_token, transport=transport)
    created: list[float | None] = []
    try:
        with nocodb_errors(root):
            async for raw in client.iter_rows(table_id, where="(Id,gt,0)", fields=["Id", "CreatedAt"]):
                with contextlib.suppress(ValueError):  # not a row facegate could moderate either
                    created.append(created_epoch(parse_row(raw, FieldNames())))
    finally:
        await client.aclose()
    if not created:
        return Backlog(0, None)
    known = [epoch for epoch in created if epoch is not None]
    newest = max(known) if len(known) == len(created) else max([*known, time.time()])
    backlog = Backlog(len(created), datetime.fromtimestamp(newest, UTC))
    logger.info(
        "the table holds %d rows from before facegate (created by %s): its backlog, held until you"
        " confirm. `facegate backlog` shows what facegate would do with them, `facegate backlog"
        " --apply` lets it",
        backlog.rows,
        backlog.setting(),
    )
    return backlog
