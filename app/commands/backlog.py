"""``facegate backlog``: what facegate would do with the rows a table held when it was attached, and
the operator's go-ahead (``--apply``).

The preview runs the service's own decision (``app.moderation.decide``: each row read from NocoDB,
its pictures downloaded and their faces verified by the face workers) on every backlog row facegate
has not decided, and prints per politician how many would be approved, sent to review, rejected
(deleted, with ``FACEGATE_ACTION=delete``) and held, with the reasons. It writes nothing: not to
NocoDB, not to the decision log; so it may run beside a running facegate (with face workers of its
own). ``--apply`` records the confirmation in facegate's database, where the running service reads it
(``app.moderation.backlog``), and queues the held backlog rows again.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TextIO

import httpx

from app.assembly import build_decider, build_face_service, build_files
from app.config import RejectAction, Settings
from app.db import Database
from app.erasure.claims import ClaimLog, ClaimsPreview
from app.erasure.provenance import Provenance
from app.errors import CommandError, ReferenceSetError, ServiceError
from app.faces.intake import Limits
from app.integrations.nocodb.client import NocoDBClient
from app.integrations.nocodb.errors import NocoDBError, NocoDBUnreachable
from app.integrations.nocodb.meta import NocoDBMetaClient
from app.moderation.backlog import BacklogStore, in_backlog
from app.moderation.decide import RowDecider
from app.moderation.decisions import DecisionLog
from app.moderation.download import Downloader
from app.moderation.holds import Held
from app.moderation.queue import JobQueue
from app.moderation.rows import UploadRow, parse_row, row_key
from app.outcomes import Decision, HoldReason

__all__ = ["BACKLOG_DONE", "BACKLOG_MISCONFIGURED", "run_backlog"]

BACKLOG_DONE: Final = 0
BACKLOG_MISCONFIGURED: Final = 2
TOKEN_ENV: Final = "FACEGATE_NOCODB_API_TOKEN"  # noqa: S105 - the name of a variable, not a secret
NONE_NAMED: Final = "(none named)"
HELD: Final = "held"
PROGRESS_EVERY: Final = 10
# What a rejection does, as the preview's column says it.
REJECTED_AS: Final = {RejectAction.DELETE: "deleted", RejectAction.FLAG: "flagged"}
# Distinct reasons a preview prints in full (what to do about each).
SHOWN_PROBLEMS: Final = 10


class BacklogError(CommandError):
    """NocoDB refused or could not be reached while the backlog was previewed."""


@dataclass(frozen=True)
class Outcome:
    """What facegate would do with one backlog row: ``column`` is a decision or ``held``."""

    politician: str
    column: str
    reason: str
    detail: str | None = None


async def run_backlog(
    settings: Settings,
    *,
    apply: bool = False,
    out: TextIO | None = None,
    progress: TextIO | None = None,
    nocodb_transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """Preview the backlog (``out``, default stdout; progress on stderr), or with ``apply`` confirm it;
    the exit code."""
    out, progress = out or sys.stdout, progress or sys.stderr
    url, token, table_id = settings.nocodb_url, settings.nocodb_api_token, settings.nocodb_table_id
    if not (url and token and table_id):
        named = {"FACEGATE_NOCODB_URL": url, TOKEN_ENV: token, "FACEGATE_NOCODB_TABLE_ID": table_id}
        missing = ", ".join(k for k, v in named.items() if not v)
        print(f"facegate backlog: {missing} not set", file=sys.stderr)
        return BACKLOG_MISCONFIGURED
    settings = _with_recorded_cutoff(settings, table_id)
    if settings.backlog_before is None:
        print(
            "no backlog: FACEGATE_BACKLOG_BEFORE is not set (bootstrap sets it when it attaches facegate"
            " to a table that already holds rows); every row is moderated as it comes",
            file=out,
        )
        return BACKLOG_DONE
    if apply:
        return _apply(settings, table_id, out)
    with nocodb_errors(url):
        outcomes, skipped = await _preview(settings, table_id, progress, nocodb_transport)
    _report(settings, outcomes, skipped, out)
    return BACKLOG_DONE


def _with_recorded_cutoff(settings: Settings, table_id: str) -> Settings:
    """The settings with the table's cut-off as the service holds it: the later of the setting and
    the one its database recorded (``BacklogStore.cutoff``; read only, nothing recorded here)."""
    db = _database(settings)
    if db is None:
        return settings
    try:
        before = BacklogStore(db).cutoff(table_id, settings.backlog_before, record=False)
    finally:
        db.close()
    return settings.model_copy(update={"backlog_before": before})


def _database(settings: Settings) -> Database | None:
    """The service's database, None when there is none yet (never a new, empty one)."""
    target = settings.database
    if isinstance(target, Path) and not target.is_file():
        return None
    return Database(target)


def _apply(settings: Settings, table_id: str, out: TextIO) -> int:
    """Record the confirmation where every instance reads it; queue the held backlog rows again."""
    assert settings.backlog_before is not None
    db = _database(settings)
    if db is None:
        print(
            f"facegate backlog: no facegate database at {settings.database} (FACEGATE_DATA_DIR): start"
            " facegate once, or run this where it runs",
            file=sys.stderr,
        )
        return BACKLOG_MISCONFIGURED
    try:
        before = settings.backlog_before.timestamp()
        new = BacklogStore(db).confirm(table_id, before)
        released = JobQueue(db).release_held([HoldReason.BACKLOG])
    finally:
        db.close()
    when = settings.backlog_before.isoformat(sep=" ")
    state = "confirmed" if new else "was already confirmed"
    print(
        f"the backlog of table {table_id} (rows created at or before {when}) {state}: facegate decides"
        f" it now; {released} held rows queued again",
        file=out,
    )
    return BACKLOG_DONE


async def _preview(
    settings: Settings, table_id: str, progress: TextIO, transport: httpx.AsyncBaseTransport | None
) -> tuple[list[Outcome], Counter[str]]:
    """Decide every backlog row facegate has not decided, writing nothing; the outcomes, and how many
    rows were skipped (already decided, gone meanwhile) by why."""
    assert settings.nocodb_url is not None and settings.nocodb_api_token is not None
    token = settings.nocodb_api_token.get_secret_value()
    nocodb = NocoDBClient(
        base_url=settings.nocodb_url,
        api_token=token,
        allowed_origins=settings.attachment_allowed_origins,
        transport=transport,
    )
    meta = NocoDBMetaClient(base_url=settings.nocodb_url, transport=transport)
    meta.use_token(token)
    faces = build_face_service(
        settings, Limits(settings.max_upload_bytes, settings.max_image_pixels, settings.encode_max_side)
    )
    db = _database(settings)
    try:
        rows = await _backlog_rows(settings, table_id, nocodb, db)
        skipped = Counter({"already decided by facegate": rows.count(None)})
        todo = [row for row in rows if row is not None]
        with contextlib.suppress(ReferenceSetError, ServiceError):  # then each row says it is held
            await faces.reload()
        downloader = Downloader(nocodb=nocodb, fields=settings.fields, max_bytes=settings.max_upload_bytes)
        claims = ClaimsPreview(ClaimLog(db) if db is not None else None)
        image = settings.fields.image
        provenance = Provenance(nocodb=nocodb, files=build_files(settings), claims=claims, image_field=image)
        decider = build_decider(settings, faces, downloader, meta, provenance)
        results = await _decide_all(decider, downloader, table_id, todo, settings.concurrency, progress)
    finally:
        faces.pool.close()
        await nocodb.aclose()
        await meta.aclose()
        if db is not None:
            db.close()
    skipped["gone from NocoDB meanwhile"] = results.count(None)
    return [outcome for outcome in results if outcome is not None], skipped


async def _backlog_rows(
    settings: Settings, table_id: str, nocodb: NocoDBClient, db: Database | None
) -> list[UploadRow | None]:
    """The table's backlog rows, each None when facegate has decided it already."""
    fields = settings.fields
    wanted = ["Id", "CreatedAt", *fields.columns()]
    rows: list[UploadRow] = []
    async for raw in nocodb.iter_rows(table_id, where="(Id,gt,0)", fields=wanted):
        with contextlib.suppress(ValueError):
            row = parse_row(raw, fields)
            if in_backlog(row, settings.backlog_before):
                rows.append(row)
    decided = set(DecisionLog(db).settled_many([row_key(table_id, r) for r in rows])) if db else set()
    return [None if row_key(table_id, row) in decided else row for row in rows]


async def _decide_all(
    decider: RowDecider,
    downloader: Downloader,
    table_id: str,
    rows: Sequence[UploadRow],
    concurrency: int,
    progress: TextIO,
) -> list[Outcome | None]:
    """Each row's outcome (None: gone meanwhile), ``concurrency`` rows at a time."""
    slots = asyncio.Semaphore(concurrency)
    done = 0
    print(f"deciding {len(rows)} backlog rows (nothing is written)", file=progress, flush=True)

    async def one(row: UploadRow) -> Outcome | None:
        nonlocal done
        async with slots:
            outcome = await _outcome(decider, downloader, table_id, row)
        done += 1
        if done % PROGRESS_EVERY == 0 or done == len(rows):
            print(f"[{done}/{len(rows)}]", file=progress, flush=True)
        return outcome

    return list(await asyncio.gather(*(one(row) for row in rows)))


async def _outcome(
    decider: RowDecider, downloader: Downloader, table_id: str, row: UploadRow
) -> Outcome | None:
    """The service's decision on the row as NocoDB has it now, or why it would be held."""
    try:
        current = await downloader.current(table_id, row)
        if current is None:
            return None
        verdict = await decider.decide(current, table_id)
    except Held as held:
        return Outcome(row.politician or NONE_NAMED, HELD, held.reason, held.detail)
    return Outcome(verdict.politician or NONE_NAMED, verdict.decision, verdict.reason)


def _report(settings: Settings, outcomes: Sequence[Outcome], skipped: Counter[str], out: TextIO) -> None:
    assert settings.backlog_before is not None
    rejected = REJECTED_AS.get(settings.action, "rejected")
    columns = {
        Decision.APPROVED: "approved",
        Decision.REVIEW: "review",
        Decision.REJECTED: rejected,
        HELD: HELD,
    }
    when = settings.backlog_before.isoformat(sep=" ")
    count = len(outcomes)
    print(f"backlog: {count} rows created at or before {when} that facegate has not decided", file=out)
    for why, count in skipped.items():
        if count:
            print(f"  (not counted: {count} {why})", file=out)
    for line in _table(outcomes, columns):
        print(line, file=out)
    for column, title in columns.items():
        reasons = Counter(o.reason for o in outcomes if o.column == column)
        if reasons:
            print(f"{title}: " + ", ".join(f"{r} {n}" for r, n in reasons.most_common()), file=out)
    problems = Counter(o.detail for o in outcomes if o.column == HELD and o.detail)
    for detail, count in problems.most_common(SHOWN_PROBLEMS):
        print(f"  held ({count}): {detail}", file=out)
    print(
        "Nothing was written. Until you confirm, facegate holds these rows: add the politicians the"
        " held rows name, run `facegate backlog` again, then `facegate backlog --apply`.",
        file=out,
    )


def _table(outcomes: Sequence[Outcome], columns: dict[str, str]) -> Iterator[str]:
    """One line per politician (most rows first), then the totals."""
    per: dict[str, Counter[str]] = {}
    for outcome in outcomes:
        per.setdefault(outcome.politician, Counter())[outcome.column] += 1
    ordered = sorted(per.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    total = sum((counts for _, counts in ordered), Counter[str]())
    width = max([len("politician"), *(len(name) for name in per)])
    yield f"{'politician':<{width}}  " + "  ".join(f"{title:>8}" for title in columns.values())
    for name, counts in [*ordered, ("total", total)]:
        yield f"{name:<{width}}  " + "  ".join(f"{counts[column]:>8}" for column in columns)


@contextlib.contextmanager
def nocodb_errors(nocodb_url: str) -> Iterator[None]:
    """NocoDB's errors as the one line the operator sees."""
    try:
        yield
    except NocoDBUnreachable as exc:
        raise BacklogError(f"NocoDB is not reachable at {nocodb_url}: {exc.message}") from exc
    except NocoDBError as exc:
        raise BacklogError(f"NocoDB refused the preview: {exc.message}") from exc
