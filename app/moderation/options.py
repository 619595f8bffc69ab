"""What the form lets an uploader name: the politician column's options, read from NocoDB's meta API.

A row that names no politician facegate knows is held when the form offers that name (an option of
the select whose politician is not in ``reference_faces/`` yet: the operator's to fix) and rejected
when it does not (a stale option since removed, or a value written past the form). A text column
offers any name: facegate cannot tell a politician not added yet from a typo, so such a row is held
too, for the operator to look at.

The column is read again when a value is not among the options read, so an option added a moment ago
is never taken for a forged one; what it offers is otherwise kept for ``OPTIONS_TTL_SECONDS``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Final

from app.integrations.nocodb.meta import NocoDBMetaClient, option_titles
from app.politicians.names import name_key

__all__ = ["OPTIONS_TTL_SECONDS", "Offer", "PoliticianColumn"]

OPTIONS_TTL_SECONDS: Final = 60.0
SELECT_TYPES: Final = frozenset({"SingleSelect", "MultiSelect"})


class Offer(StrEnum):
    """Whether the form offers a politician cell's value."""

    OPTION = "option"  # one of the select's options
    FREE_TEXT = "free_text"  # the column is text: anything may be typed
    NOT_OFFERED = "not_offered"  # a select without that option
    NO_COLUMN = "no_column"  # the table has no such column (renamed or deleted)


class PoliticianColumn:
    """The politician column of one table, as its form offers it."""

    def __init__(
        self,
        *,
        meta: NocoDBMetaClient,
        table_id: str,
        title: str,
        ttl: float = OPTIONS_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.meta = meta
        self.table_id = table_id
        self.title = title
        self.ttl = ttl
        self.clock = clock
        self._uidt: str | None = None
        self._options: frozenset[str] = frozenset()
        self._read_at: float | None = None
        self._reading = asyncio.Lock()

    async def offers(self, value: str) -> Offer:
        """Whether the form offers ``value`` (compared as names are: case and spaces aside). NocoDB's
        errors propagate: the caller retries later."""
        asked = self.clock()
        offer = self._offer(value)
        fresh = self._read_at is not None and asked - self._read_at < self.ttl
        if fresh and offer in (Offer.OPTION, Offer.FREE_TEXT):
            return offer
        async with self._reading:
            if self._read_at is None or self._read_at < asked:  # not read since we asked
                await self._read()
        return self._offer(value)

    def _offer(self, value: str) -> Offer:
        if self._uidt is None:
            return Offer.NO_COLUMN
        if self._uidt not in SELECT_TYPES:
            return Offer.FREE_TEXT
        if not self._options:
            # A select without a single option read: its options are in a shape facegate does not
            # know, not "nothing offered". Taken for forged, every row would be deleted: held.
            return Offer.OPTION
        return Offer.OPTION if name_key(value) in self._options else Offer.NOT_OFFERED

    async def _read(self) -> None:
        column = (await self.meta.columns(self.table_id)).get(self.title)
        self._uidt = None if column is None else str(column.get("uidt"))
        self._options = frozenset(name_key(t) for t in option_titles(column)) if column else frozenset()
        self._read_at = self.clock()
