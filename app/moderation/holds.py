"""Holding a row: what facegate does when it must not decide a row yet.

A row is held, never rejected, when the problem is facegate's or the operator's, not the uploader's:
the backlog not confirmed, a politician the form offers but ``reference_faces/`` lacks, references
not loaded, a configured column gone from the table (``app.outcomes.HoldReason``). Deciding raises
``Held``; the queue runner keeps the job as ``held`` (no decision logged, NocoDB untouched), and the
job is tried again when what held it may be fixed (a reload of the politicians, a restart, the
backlog confirmed).

Each problem is logged once per process as an error that says what to do, not once per row.
"""

from __future__ import annotations

import logging
from typing import Final

from app.outcomes import HoldReason

__all__ = ["Alerts", "Held"]

log = logging.getLogger(__name__)

# Distinct problems logged per process; past it one line says the rest are only counted (a text
# column may be sent any number of different names).
MAX_ALERTS: Final = 200


class Held(Exception):
    """The row must not be decided yet: ``reason``, and ``detail`` in words (shown with the job)."""

    def __init__(self, reason: HoldReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class Alerts:
    """Logs each problem (a key) once per process, as an error."""

    def __init__(self, limit: int = MAX_ALERTS) -> None:
        self.limit = limit
        self._seen: set[str] = set()

    def once(self, key: str, message: str, *args: object) -> None:
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
        log.error(message, *args)
