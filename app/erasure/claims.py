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

import sqlalchemy as sa

from app.db import Database
from app.tables import file_claims as t

__all__ = ["ClaimLog", "UploadSource", "digest"]


class UploadSource(StrEnum):
    """Who uploaded a claimed file."""

    FORM = "form"  # a visitor, through the public form: the file has one owner
    OPERATOR = "operator"  # facegate's API-token user, in rows it created: shared by those rows


def digest(location: str) -> str:
    """What the log keeps of a location."""
    return hashlib.sha256(location.encode()).hexdigest()


class ClaimLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(self, *, location: str, row_key: str, table_id: str, row_id: int, source: UploadSource) -> str:
        """Record that the upload ``row_key`` claims the file; returns the row key of the file's first
        claimant (itself, unless another upload claimed it before, on any instance: a second form
        claim conflicts with the first, and waits for it to commit)."""
        values = {
            "digest": digest(location),
            "row_key": row_key,
            "table_id": table_id,
            "row_id": row_id,
            "source": source.value,
            "claimed_at": self.db.clock(),
        }
        with self.db.tx() as conn:
            conn.execute(self.db.insert(t).values(values).on_conflict_do_nothing())
            first = sa.select(t.c.row_key).where(t.c.digest == values["digest"]).order_by(t.c.id).limit(1)
            return str(conn.execute(first).scalar_one())

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
