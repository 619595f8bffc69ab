"""The claims log (table ``file_claims``): which upload each stored file is the own of.

A file is claimed when facegate proves it the upload's own (``app.erasure.provenance``), before the
upload is moderated; the eraser erases only the files the gone upload claimed. A public-form upload
has one owner, the first upload to claim it; an operator's upload may be shared by several of the
operator's rows. Locations hold the uploader's file name, so only their SHA-256 is kept; an upload's
claims are released once its files are erased.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol

import sqlalchemy as sa

from app.db import Database
from app.tables import file_claims as t

__all__ = ["ClaimLog", "Claims", "ClaimsPreview", "UploadSource", "digest"]


class UploadSource(StrEnum):
    """Who uploaded a claimed file."""

    FORM = "form"  # a visitor, through the public form: the file has one owner
    OPERATOR = "operator"  # facegate's API-token user, in rows it created: shared by those rows


def digest(location: str) -> str:
    """What the log keeps of a location."""
    return hashlib.sha256(location.encode()).hexdigest()


class Claims(Protocol):
    def claim(self, *, location: str, row_key: str, table_id: str, row_id: int, source: UploadSource) -> str:
        """The row key of the file's first claimant, once ``row_key`` has claimed it."""
        ...

    def owned(self, row_key: str, locations: Sequence[str]) -> dict[str, UploadSource]:
        """The locations among ``locations`` that the upload claimed, and who uploaded each."""
        ...


class ClaimLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(self, *, location: str, row_key: str, table_id: str, row_id: int, source: UploadSource) -> str:
        """Record that the upload ``row_key`` claims the file; returns the row key of the file's first
        claimant (itself, unless another upload claimed it before, on any instance: a second form
        claim conflicts with the first, and waits for it to commit)."""
        file_digest = digest(location)
        values = {
            "digest": file_digest,
            "row_key": row_key,
            "table_id": table_id,
            "row_id": row_id,
            "source": source.value,
            "claimed_at": self.db.clock(),
        }
        with self.db.tx() as conn:
            conn.execute(self.db.insert(t).values(values).on_conflict_do_nothing())
            return str(conn.execute(_first_claimant(file_digest)).scalar_one())

    def first_claimant(self, location: str) -> str | None:
        """The row key of the upload that claimed the file first, None when none did."""
        found = self.db.scalar(_first_claimant(digest(location)))
        return None if found is None else str(found)

    def owned(self, row_key: str, locations: Sequence[str]) -> dict[str, UploadSource]:
        """The locations among ``locations`` that the upload claimed, and who uploaded each."""
        by_digest = {digest(location): location for location in locations}
        query = sa.select(t.c.digest, t.c.source).where(
            t.c.row_key == row_key, t.c.digest.in_(list(by_digest))
        )
        return {by_digest[row["digest"]]: UploadSource(row["source"]) for row in self.db.rows(query)}

    def release(self, row_key: str) -> None:
        """Forget the upload's claims: its files are erased (or were never its own)."""
        with self.db.tx() as conn:
            conn.execute(sa.delete(t).where(t.c.row_key == row_key))


class ClaimsPreview:
    """The claims log as a preview reads it (``facegate backlog``): who claimed each file before, and
    nothing recorded; ``log`` None without a facegate database yet."""

    def __init__(self, log: ClaimLog | None) -> None:
        self.log = log

    def claim(self, *, location: str, row_key: str, table_id: str, row_id: int, source: UploadSource) -> str:
        first = self.log.first_claimant(location) if self.log is not None else None
        return first if first is not None and source is UploadSource.FORM else row_key

    def owned(self, row_key: str, locations: Sequence[str]) -> dict[str, UploadSource]:
        return self.log.owned(row_key, locations) if self.log is not None else {}


def _first_claimant(file_digest: str) -> sa.Select[tuple[str]]:
    return sa.select(t.c.row_key).where(t.c.digest == file_digest).order_by(t.c.id).limit(1)
