"""Holding a row: what facegate does when it must not decide a row yet.

A row is held, never rejected, when the problem is facegate's or the operator's, not the uploader's:
the backlog not confirmed, a politician the form offers but ``reference_faces/`` lacks, references
not loaded, a configured column gone from the table (``app.outcomes.HoldReason``). Deciding raises
``Held`` with what to do in words; the queue runner keeps the job as ``held`` (no decision logged,
NocoDB untouched) and logs each distinct problem once per process (``Alerts``), not once per row.
The job is tried again when what held it may be fixed: a reload of the politicians, a restart, the
backlog confirmed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

from app.outcomes import HoldReason

__all__ = ["Alerts", "Deferred", "Held", "columns_malformed", "columns_missing"]

log = logging.getLogger(__name__)

# Distinct problems logged per process; past it one line says the rest are only counted (a text
# column may be sent any number of different names).
MAX_ALERTS: Final = 200


class Held(Exception):
    """The row must not be decided yet: ``reason``, and ``detail`` in words, with what to do (kept
    with the job, and logged once)."""

    def __init__(self, reason: HoldReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class Deferred(Exception):
    """The row's job has more to do later, at ``until`` (epoch seconds): a moderator's rejection is
    carried out once its grace period is over. The job waits queued until then (a change of the row
    brings it forward); ``detail`` says why, for ``GET /jobs``."""

    def __init__(self, until: float, detail: str) -> None:
        super().__init__(detail)
        self.until = until
        self.detail = detail


def columns_missing(columns: Sequence[str]) -> Held:
    """A row read without configured columns: renamed or deleted in NocoDB. Without them it would look
    like a row without an image, a politician or consent; and like another upload (its key covers
    its attachments)."""
    named = ", ".join(repr(column) for column in columns)
    return Held(
        HoldReason.COLUMN_MISSING,
        f"The table has no column {named} any more: restore it, or name the right one in"
        " FACEGATE_NOCODB_*_FIELD and restart facegate.",
    )


def columns_malformed(columns: Sequence[str]) -> Held:
    """A row whose configured column holds cells its type never has: the column's type was changed
    in NocoDB, or the setting names another column. Read as they are, an image cell would look empty
    and a consent cell unticked: every row would be deleted."""
    named = ", ".join(repr(column) for column in columns)
    return Held(
        HoldReason.COLUMN_TYPE,
        f"The column {named} does not hold what facegate reads there (the image column: attachments;"
        " the consent column: a checkbox): change its type back, or name the right column in"
        " FACEGATE_NOCODB_*_FIELD and restart facegate. If its type is right (GET /readyz passes),"
        " this row's value was forged past the form: delete the row in NocoDB.",
    )


class Alerts:
    """Logs each distinct problem once per process: an error, or a warning for the backlog (the
    operator's choice, not a fault)."""

    def __init__(self, limit: int = MAX_ALERTS) -> None:
        self.limit = limit
        self._seen: set[str] = set()

    def held(self, held: Held) -> None:
        key = f"{held.reason}:{held.detail}"
        if key in self._seen or len(self._seen) > self.limit:
            return
        self._seen.add(key)
        if len(self._seen) > self.limit:
            log.error(
                "more than %d different problems hold rows; further ones are not logged: see"
                " `facegate status` or GET /jobs?state=held",
                self.limit,
            )
            return
        report = log.warning if held.reason is HoldReason.BACKLOG else log.error
        report("rows are held, not decided (%s): %s", held.reason, held.detail)
