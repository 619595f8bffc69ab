"""The reference page's links: a signed, short-lived token naming one upload, in the row's note.

A link is ``<FACEGATE_PUBLIC_URL>/review/<token>``. The token is URL-safe::

    <payload, base64url>.<MAC, base64url>      payload: rl1|<table id>|<row Id>|<key digest>|<expiry>

The key digest is the first 16 bytes of the SHA-256 of the upload's idempotency key
(``app.moderation.rows.row_key``: table, Id, CreatedAt, attachment ids), so a link never opens
another upload after NocoDB reuses a deleted row's Id. The MAC is HMAC-SHA256 under a key derived
from ``FACEGATE_STAMP_SECRET`` for links alone: a stamp's MAC (``app.moderation.stamps``) is never a
link's.

The expiry is a function of the time window, not of the instant: within one half-lifetime every call
gives the same link. facegate rewrites a note only when its text changes, and its own write comes
back as an update webhook; a link that changed at every call would loop. A link thus has between
half its lifetime and its whole lifetime left when it is made.

Pure: no I/O, no clock (``now`` is given).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
from dataclasses import dataclass
from typing import Final

from app.db import MAX_ID

__all__ = ["InvalidLink", "LinkTarget", "ReviewLink", "ReviewLinks", "key_digest"]

LINK_VERSION: Final = "rl1"
KEY_DOMAIN: Final = b"facegate review links"
DIGEST_BYTES: Final = 16
# Far longer than any token facegate makes (about 150 characters): longer text is not read at all.
MAX_TOKEN_CHARS: Final = 512
REVIEW_PATH: Final = "/review/"
_B64URL: Final = re.compile(r"[A-Za-z0-9_-]+")
# A link in a note: the path, then the token up to the first character a token never holds.
_LINK_IN_TEXT: Final = re.compile(re.escape(REVIEW_PATH) + r"([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)")
_DIGITS: Final = re.compile(r"[0-9]{1,19}")
_PARTS: Final = 5  # version, table id, row Id, key digest, expiry


class InvalidLink(ValueError):
    """A token that does not open the reference page; the message says why (expired, forged,
    malformed). The page itself tells the visitor only "expired" or "not valid"."""


@dataclass(frozen=True)
class ReviewLink:
    url: str
    expires_at: float  # epoch seconds


@dataclass(frozen=True)
class LinkTarget:
    """The upload a verified token names."""

    table_id: str
    row_id: int
    key_digest: str  # ``key_digest(row_key)`` of the upload
    expires_at: float


def key_digest(row_key: str) -> str:
    """A short digest of an upload's idempotency key: 16 bytes of SHA-256, base64url (22 characters)."""
    return _b64(hashlib.sha256(row_key.encode("utf-8", "surrogateescape")).digest()[:DIGEST_BYTES])


class ReviewLinks:
    """Makes and verifies the reference page's links.

    ``secret`` is the stamp secret (a key for links alone is derived from it), ``public_url`` facegate's
    address as moderators' browsers reach it, ``ttl`` a link's lifetime in seconds.
    """

    def __init__(self, secret: str, public_url: str, ttl: float) -> None:
        if not ttl > 0:
            raise ValueError("a link's lifetime must be positive")
        self._key = hmac.new(secret.encode(), KEY_DOMAIN, hashlib.sha256).digest()
        self._base = public_url.rstrip("/")
        self.ttl = float(ttl)

    def link(self, *, table_id: str, row_id: int, row_key: str, now: float) -> ReviewLink:
        """The link to the reference page of upload ``row_key`` (row ``row_id`` of ``table_id``): the
        same for every ``now`` within one half-lifetime."""
        if "|" in table_id:
            raise ValueError("a NocoDB table id holds no '|'")
        half = self.ttl / 2
        expires_at = (math.floor(now / half) + 2) * half
        payload = "|".join((LINK_VERSION, table_id, str(row_id), key_digest(row_key), repr(expires_at)))
        encoded = _b64(payload.encode())
        token = f"{encoded}.{_b64(self._mac(encoded))}"
        return ReviewLink(url=f"{self._base}{REVIEW_PATH}{token}", expires_at=expires_at)

    def verify(self, token: str, *, now: float) -> LinkTarget:
        """The upload ``token`` names, if facegate signed it and it has not expired at ``now``;
        ``InvalidLink`` (saying why) otherwise."""
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidLink("malformed: the token is too long to be facegate's")
        encoded, dot, mac = token.partition(".")
        if not dot or not _B64URL.fullmatch(encoded) or not _B64URL.fullmatch(mac):
            raise InvalidLink("malformed: not a facegate link's token")
        if not hmac.compare_digest(_unb64(mac), self._mac(encoded)):
            raise InvalidLink("forged: the token's signature does not verify")
        target = _target(_unb64(encoded))
        if target is None:
            raise InvalidLink("malformed: the signed payload is not a link's")
        if now >= target.expires_at:
            raise InvalidLink("expired: the link's lifetime is over")
        return target

    @staticmethod
    def expires_at_of(text: str) -> float | None:
        """The expiry written in the first link found in ``text`` (a note), unverified; None when
        ``text`` holds no readable link."""
        found = _LINK_IN_TEXT.search(text)
        if found is None:
            return None
        target = _target(_unb64(found.group(1).partition(".")[0]))
        return None if target is None else target.expires_at

    def _mac(self, encoded: str) -> bytes:
        return hmac.new(self._key, encoded.encode(), hashlib.sha256).digest()


def _target(payload: bytes) -> LinkTarget | None:
    """The target a payload describes; None for bytes that are not a link's payload."""
    try:
        parts = payload.decode().split("|")
    except UnicodeDecodeError:
        return None
    if len(parts) != _PARTS or parts[0] != LINK_VERSION or not parts[1] or not _DIGITS.fullmatch(parts[2]):
        return None
    row_id = int(parts[2])
    try:
        expires_at = float(parts[4])
    except ValueError:
        return None
    if not 1 <= row_id <= MAX_ID or not math.isfinite(expires_at):
        return None
    return LinkTarget(table_id=parts[1], row_id=row_id, key_digest=parts[3], expires_at=expires_at)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """Decode unpadded base64url; empty bytes for text that is not (the MAC then does not verify)."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return b""
