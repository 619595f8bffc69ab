"""facegate's stamp: the record of a decision, written into the row beside the Status it sets, so
that NocoDB holds what facegate decided and facegate can lose its database (README: "Backups and
recovery").

A stamp is one line of text in a column of its own (``FACEGATE_NOCODB_STAMP_FIELD``)::

    fg1.<decision>.<reason>.<politician slug or empty>.<decided at, epoch s>.<upload key>.<MAC>

The MAC is HMAC-SHA256, keyed with ``FACEGATE_STAMP_SECRET``, over everything before it. The upload
key is the row's idempotency key (``app.moderation.rows.row_key``: table, Id, CreatedAt, attachment
ids), so a stamp holds only for the upload it was written for. A stamp that does not verify counts
as none: one typed into a form or the grid (no secret, no MAC), one copied from another row or left
on a row whose picture changed (another key). Anyone who sees the grid can read stamps; none of
their parts is personal data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Final

from app.moderation.decisions import DecisionRecord
from app.outcomes import Decision, Reason
from app.politicians.profiles import SLUG_PATTERN

__all__ = ["STAMP_VERSION", "InvalidStamp", "Stamp", "StampKey"]

STAMP_VERSION: Final = "fg1"
# Far longer than any stamp facegate writes: longer text is not read at all.
MAX_STAMP_CHARS: Final = 400
_PARTS: Final = 6  # version, decision, reason, politician, decided at, key (which may hold dots)


class InvalidStamp(ValueError):
    """A stamp cell that does not verify for the row it is in; it counts as none."""


@dataclass(frozen=True)
class Stamp:
    """What a stamp records: facegate's decision on one upload, and when it was made."""

    decision: Decision
    reason: Reason
    # The slug decided on; None when the verdict named none (or named text that is not a slug).
    politician: str | None
    decided_at: int
    row_key: str

    @classmethod
    def of(cls, record: DecisionRecord) -> Stamp:
        """The stamp of a logged decision (the same record always gives the same stamp)."""
        slug = record.politician if record.politician and SLUG_PATTERN.match(record.politician) else None
        return cls(record.decision, record.reason, slug, int(record.decided_at), record.row_key)

    def payload(self) -> str:
        parts = (self.decision, self.reason, self.politician or "", str(self.decided_at), self.row_key)
        return ".".join((STAMP_VERSION, *parts))


class StampKey:
    """Signs and verifies stamps with facegate's secret."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def sign(self, stamp: Stamp) -> str:
        """The stamp's text, as written into the row."""
        payload = stamp.payload()
        return f"{payload}.{self._mac(payload)}"

    def verify(self, text: str | None, row_key: str) -> Stamp | None:
        """The stamp in ``text`` if it was signed for the upload ``row_key``; None for an empty cell.
        Raises ``InvalidStamp`` (saying why) for any other text: it counts as no stamp."""
        if text is None or not text.strip():
            return None
        if len(text) > MAX_STAMP_CHARS:
            raise InvalidStamp("the stamp is too long to be facegate's")
        payload, _, mac = text.strip().rpartition(".")
        parts = payload.split(".", _PARTS - 1)
        if len(parts) != _PARTS or parts[0] != STAMP_VERSION:
            raise InvalidStamp("the cell does not hold a facegate stamp")
        if parts[5] != row_key:
            raise InvalidStamp(
                "the stamp is another upload's (copied from another row, or its picture changed)"
            )
        # As bytes: a typed stamp may hold any character, and compare_digest takes only ASCII text.
        if not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            raise InvalidStamp("the stamp's signature does not verify (not written by facegate)")
        try:
            return Stamp(Decision(parts[1]), Reason(parts[2]), parts[3] or None, int(parts[4]), row_key)
        except ValueError:
            raise InvalidStamp("the stamp names an outcome facegate does not know") from None

    def _mac(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
