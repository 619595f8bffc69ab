"""Readiness: whether facegate can moderate now and, when it cannot, why.

``GET /readyz`` answers 503 with the first failing check's reason, and ``facegate status`` prints
every check with the same words:

- ``nocodb_unreachable``    NocoDB does not answer (no connection, a timeout, 5xx, still starting)
- ``nocodb_token_refused``  NocoDB refuses ``FACEGATE_NOCODB_API_TOKEN`` (401 or 403)
- ``table_not_found``       ``FACEGATE_NOCODB_TABLE_ID`` names no table the token may read
- ``column_missing``        the table lacks the image, politician, Status or consent column named in the
                            settings (or, with ``FACEGATE_STAMP_SECRET`` set, the stamp column: NocoDB
                            would drop the stamps silently)
- ``column_type``           the image column is not an Attachment, or the consent column not a
                            Checkbox (its type changed in NocoDB): its rows are held (``column_type``)
- ``storage_mismatch``      a file facegate stores through NocoDB is not where its settings look for
                            uploads (``FACEGATE_NOCODB_UPLOADS_DIR``, ``FACEGATE_S3_*``,
                            ``FACEGATE_ATTACHMENT_ALLOWED_ORIGINS``), or not written at NocoDB's time
                            (``app.erasure.probe``): every upload would be taken for a forged one
- ``references_empty``      the reference folder has no politician

NocoDB is asked by ``ReadinessMonitor``: once at start, then in the background every
``RECHECK_UNHEALTHY_SECONDS`` (30) while a check fails and every ``RECHECK_HEALTHY_SECONDS`` (300)
while all pass, so a token revoked while facegate runs shows within five minutes. The references are
asked at each request: ``POST /politicians/reload`` changes them. Without NocoDB settings there is
nothing of NocoDB to check: facegate answers ``/verify`` and queues webhooks until it has them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from app.config import FieldNames
from app.errors import CannotModerate
from app.integrations.nocodb.errors import NocoDBRequestError, NocoDBTokenRefused, NocoDBUnavailable
from app.integrations.nocodb.meta import NocoDBMetaClient

__all__ = [
    "CHECK_TIMEOUT_SECONDS",
    "RECHECK_HEALTHY_SECONDS",
    "RECHECK_UNHEALTHY_SECONDS",
    "Check",
    "ReadinessMonitor",
    "Unready",
    "check_nocodb",
    "check_references",
]

log = logging.getLogger(__name__)

RECHECK_UNHEALTHY_SECONDS: Final = 30.0
RECHECK_HEALTHY_SECONDS: Final = 300.0
# One round of NocoDB's checks, its retries included: a NocoDB that hangs is unreachable.
CHECK_TIMEOUT_SECONDS: Final = 10.0


class Unready(StrEnum):
    """Why facegate cannot moderate: ``/readyz``'s error code."""

    NOCODB_UNREACHABLE = "nocodb_unreachable"
    NOCODB_TOKEN_REFUSED = "nocodb_token_refused"  # noqa: S105 - a reason, not a secret
    TABLE_NOT_FOUND = "table_not_found"
    COLUMN_MISSING = "column_missing"
    COLUMN_TYPE = "column_type"
    STORAGE_MISMATCH = "storage_mismatch"
    REFERENCES_EMPTY = "references_empty"


@dataclass(frozen=True)
class Check:
    """One check: ``name`` (``nocodb``, ``token``, ``table``, ``columns``, ``references``), what was
    found, and ``reason`` when it failed."""

    name: str
    detail: str
    reason: Unready | None = None

    @property
    def passed(self) -> bool:
        return self.reason is None


async def check_nocodb(
    meta: NocoDBMetaClient, table_id: str, fields: FieldNames, *, stamps: bool = False
) -> list[Check]:
    """NocoDB answers, accepts the token, has the table, and the table has facegate's three columns
    (and the stamp column when facegate writes ``stamps``); the checks after a failing one are not
    run. ``meta`` calls with facegate's token."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            table = await meta.table(table_id)
    except TimeoutError:
        return [_unreachable(f"no answer within {CHECK_TIMEOUT_SECONDS:g} s")]
    except NocoDBTokenRefused as exc:
        refused = f"refused (HTTP {exc.status_code}): check FACEGATE_NOCODB_API_TOKEN"
        return [_answered(), Check("token", refused, Unready.NOCODB_TOKEN_REFUSED)]
    except NocoDBUnavailable as exc:
        return [_unreachable(exc.message)]
    except NocoDBRequestError as exc:
        missing = f"no table {table_id!r} (or the token may not read it): HTTP {exc.status_code}"
        return [_answered(), _accepted(), Check("table", missing, Unready.TABLE_NOT_FOUND)]
    found = Check("table", f"{table.get('title')!r} ({table_id})")
    return [_answered(), _accepted(), found, _columns(table, fields, stamps=stamps)]


def check_references(politicians: int) -> Check:
    """The reference set has someone to recognise."""
    if not politicians:
        detail = "no politician in the reference folder: add them (facegate politicians add), then reload"
        return Check("references", detail, Unready.REFERENCES_EMPTY)
    return Check("references", f"{politicians} politician{'s' if politicians != 1 else ''}")


def _answered() -> Check:
    return Check("nocodb", "answers")


def _accepted() -> Check:
    return Check("token", "accepted")


def _unreachable(why: str) -> Check:
    return Check("nocodb", why, Unready.NOCODB_UNREACHABLE)


# What moderation reads in these columns, by NocoDB's type (``uidt``).
COLUMN_TYPES: Final = {"image": "Attachment", "consent": "Checkbox"}


def _columns(table: Mapping[str, Any], fields: FieldNames, *, stamps: bool) -> Check:
    columns = [column for column in table.get("columns") or [] if isinstance(column, dict)]
    titles = {str(column.get("title")) for column in columns}
    types = {str(column.get("title")): column.get("uidt") for column in columns}
    wanted = {"image": fields.image, "politician": fields.politician, "status": fields.status}
    if stamps:
        # NocoDB ignores a PATCH's unknown fields: without the column, every stamp would be lost unseen.
        wanted["stamp"] = fields.stamp
    if fields.consent:
        wanted["consent"] = fields.consent
    missing = [f"{title!r} ({what})" for what, title in wanted.items() if title not in titles]
    if missing:
        detail = (
            f"the table has no column {', '.join(missing)}: run facegate bootstrap, or fix"
            " FACEGATE_NOCODB_*_FIELD"
        )
        return Check("columns", detail, Unready.COLUMN_MISSING)
    changed = [
        f"{wanted[what]!r} is {types[wanted[what]]}, not {uidt}"
        for what, uidt in COLUMN_TYPES.items()
        if what in wanted and types.get(wanted[what]) not in (uidt, None)
    ]
    if changed:
        detail = f"{'; '.join(changed)}: change its type back in NocoDB, or fix FACEGATE_NOCODB_*_FIELD"
        return Check("columns", detail, Unready.COLUMN_TYPE)
    return Check("columns", ", ".join(repr(title) for title in wanted.values()))


class ReadinessMonitor:
    """NocoDB's checks, as last run (none when NocoDB is not configured), and the loop that reruns
    them. A change of outcome is logged once: an error when facegate cannot moderate, then when it
    can again."""

    def __init__(self, check: Callable[[], Awaitable[list[Check]]] | None = None) -> None:
        self._check = check
        self.checks: list[Check] = []
        self.checked_at: float | None = None

    @property
    def configured(self) -> bool:
        return self._check is not None

    @property
    def failure(self) -> Check | None:
        return _first_failure(self.checks)

    async def refresh(self) -> list[Check]:
        """Run NocoDB's checks now."""
        if self._check is None:
            return []
        first, before = self.checked_at is None, self.failure
        checks = await self._check()
        self.checks, self.checked_at = checks, time.time()
        _log_change(before, self.failure, first=first)
        return checks

    def require(self, *, politicians: int) -> None:
        """Raise ``CannotModerate`` for the first failing check (NocoDB's as last run, then the
        references')."""
        failure = _first_failure([*self.checks, check_references(politicians)])
        if failure is not None:
            assert failure.reason is not None
            raise CannotModerate(
                failure.reason,
                f"facegate cannot moderate: {failure.name}: {failure.detail}",
                detail={"check": failure.name, "checked_at": self.checked_at},
            )

    async def run(self) -> None:
        """Check again, sooner while something fails."""
        while self._check is not None:
            await asyncio.sleep(RECHECK_UNHEALTHY_SECONDS if self.failure else RECHECK_HEALTHY_SECONDS)
            try:
                await self.refresh()
            except Exception:  # a bug in a check must not end the checks for the process's life
                log.exception("readiness check failed")


def _first_failure(checks: Sequence[Check]) -> Check | None:
    return next((check for check in checks if not check.passed), None)


def _log_change(before: Check | None, after: Check | None, *, first: bool) -> None:
    """Log the first outcome, then only a change of it: a NocoDB down for an hour is one line."""
    if after is not None and (first or before is None or before.reason != after.reason):
        log.error("facegate cannot moderate (%s): %s: %s", after.reason, after.name, after.detail)
    elif after is None and (first or before is not None):
        log.info("NocoDB checks pass: facegate can moderate")
