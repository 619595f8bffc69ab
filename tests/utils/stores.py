"""facegate's stores over a fresh database (a SQLite file or a PostgreSQL URL), as the app builds them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.carousel.store import ApprovalStore
from app.db import Database
from app.erasure.claims import ClaimLog
from app.erasure.store import PurgeLog
from app.moderation.decisions import DecisionLog
from app.moderation.queue import JobQueue

# Where the stores' tests run (``both_backends``): the default file, and the shared server.
BACKENDS = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Stores:
    """facegate's stores over one database, as ``app.assembly`` builds them."""

    db: Database
    queue: JobQueue
    decisions: DecisionLog
    approvals: ApprovalStore
    purges: PurgeLog
    claims: ClaimLog


@contextmanager
def fresh_stores(target: Path | str, clock: Callable[[], float] = time.time) -> Iterator[Stores]:
    """The stores over ``target`` (a SQLite file or a PostgreSQL URL), on ``clock``."""
    db = Database(target, clock=clock)
    try:
        yield Stores(db, JobQueue(db), DecisionLog(db), ApprovalStore(db), PurgeLog(db), ClaimLog(db))
    finally:
        db.close()
