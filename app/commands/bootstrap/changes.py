"""What a bootstrap run changed, one line each, in NocoDB and in the settings file.

A rerun must be visibly harmless: every step that writes says so here, as it writes (so that a run
that fails half-way has said what it did), and a run that wrote nothing ends with "nothing changed".
Steps that only look are logged, not listed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

__all__ = ["NOTHING_CHANGED", "Changes"]

logger = logging.getLogger(__name__)

NOTHING_CHANGED: Final = "nothing changed"


class Changes:
    """The changes of one run, in order; each is passed to ``announce`` (default: logged) when made."""

    def __init__(self, announce: Callable[[str], None] | None = None) -> None:
        self._announce = announce or logger.info
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        self.lines.append(line)
        self._announce(line)

    def summary(self) -> list[str]:
        """The lines, or ``nothing changed``."""
        return list(self.lines) or [NOTHING_CHANGED]
