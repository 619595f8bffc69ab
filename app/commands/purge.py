"""``facegate purge``: finish the erasures still pending in facegate's purge log, with the service's
settings and eraser; it may run beside a running facegate. Purges kept while their row is still in
NocoDB are looked at again too, and are no failure while the row is there."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from app.assembly import build_eraser
from app.config import Settings
from app.db import Database
from app.erasure.claims import ClaimLog
from app.erasure.service import Eraser
from app.erasure.store import PurgeLog, PurgeRecord, PurgeState
from app.integrations.nocodb.client import NocoDBClient

__all__ = ["PURGE_ALL_DONE", "PURGE_MISCONFIGURED", "PURGE_SOME_LEFT", "run_purge"]

TOKEN_ENV = "FACEGATE_NOCODB_API_TOKEN"  # noqa: S105 - the name of a variable, not a secret
# Exit codes.
PURGE_ALL_DONE = 0
PURGE_SOME_LEFT = 1  # still pending (or refused): see each line; kept ones are not counted
PURGE_MISCONFIGURED = 2


async def run_purge(
    settings: Settings, *, dry_run: bool = False, nocodb_transport: httpx.AsyncBaseTransport | None = None
) -> int:
    """Retry every pending or kept purge with the service's eraser, printing one line each and a
    summary; the exit code. ``dry_run`` only lists them: no file, no NocoDB call, no change to the log.

    It does not take the service's data-folder lock, so it runs beside running instances: SQLite's
    WAL lets both write (PostgreSQL is shared anyway), and a retry is safe to repeat (a file already
    gone counts nothing, and whether the row is gone is asked each time); at worst a file both
    remove at the same instant is counted twice.
    """
    url, token, table_id = settings.nocodb_url, settings.nocodb_api_token, settings.nocodb_table_id
    if not (url and token and table_id):
        named = {"FACEGATE_NOCODB_URL": url, TOKEN_ENV: token, "FACEGATE_NOCODB_TABLE_ID": table_id}
        print(f"facegate purge: {', '.join(k for k, v in named.items() if not v)} not set", file=sys.stderr)
        return PURGE_MISCONFIGURED
    target = settings.database
    if isinstance(target, Path) and not target.is_file():
        # Never start an empty database: FACEGATE_DATA_DIR is not the service's.
        print(f"facegate purge: no facegate database at {target} (FACEGATE_DATA_DIR)", file=sys.stderr)
        return PURGE_MISCONFIGURED
    db = Database(target)
    try:
        purges = PurgeLog(db)
        if dry_run:
            return _list_pending(purges)
        nocodb = NocoDBClient(
            base_url=url,
            api_token=token.get_secret_value(),
            allowed_origins=settings.attachment_allowed_origins,
            transport=nocodb_transport,
        )
        try:
            return await _retry_pending(build_eraser(settings, nocodb, purges, ClaimLog(db)))
        finally:
            await nocodb.aclose()
    finally:
        db.close()


def _waiting(purges: PurgeLog) -> Iterator[PurgeRecord]:
    after_id = 0
    while batch := purges.waiting(after_id=after_id):
        yield from batch
        after_id = batch[-1].id  # a retry that stays pending is not met again


def _list_pending(purges: PurgeLog) -> int:
    states = dict.fromkeys(PurgeState, 0)
    for record in _waiting(purges):
        states[record.state] += 1
        where = f"{len(record.locations)} location(s)"
        print(f"row {record.row_id}: would retry {where}; {record.state}: {record.detail}")
    print(f"{sum(states.values())} pending purges would be retried (dry run: nothing changed)")
    return PURGE_SOME_LEFT if states[PurgeState.PENDING] else PURGE_ALL_DONE


async def _retry_pending(eraser: Eraser) -> int:
    outcomes = dict.fromkeys(PurgeState, 0)
    for pending in _waiting(eraser.purges):
        record = await eraser.retry(pending)
        outcomes[record.state] += 1
        reason = f": {record.detail}" if record.detail else ""
        print(f"row {record.row_id}: {record.state}, {record.files} files, {record.bytes} bytes{reason}")
    retried = sum(outcomes.values())
    kept = outcomes[PurgeState.KEPT]
    print(
        f"{retried} pending purges retried: {outcomes[PurgeState.DONE]} done,"
        f" {outcomes[PurgeState.PENDING]} still pending, {outcomes[PurgeState.REFUSED]} refused"
        + (f", {kept} kept (the row is still in NocoDB)" if kept else "")
    )
    left = outcomes[PurgeState.PENDING] + outcomes[PurgeState.REFUSED]
    return PURGE_SOME_LEFT if left else PURGE_ALL_DONE
