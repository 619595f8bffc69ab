"""Placeholder of the reference page's links (replaced by branch i24-page's module at merge)."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["InvalidLink", "LinkTarget", "ReviewLink", "ReviewLinks"]


class InvalidLink(ValueError):
    pass


@dataclass(frozen=True)
class ReviewLink:
    url: str
    expires_at: float


@dataclass(frozen=True)
class LinkTarget:
    table_id: str
    row_id: int
    key_digest: str
    expires_at: float


class ReviewLinks:
    def __init__(self, secret: str, public_url: str, ttl: float) -> None:
        self.secret, self.public_url, self.ttl = secret, public_url.rstrip("/"), ttl

    def link(self, *, table_id: str, row_id: int, row_key: str, now: float) -> ReviewLink:
        half = self.ttl / 2
        expires = (int(now // half) + 2) * half
        return ReviewLink(f"{self.public_url}/review/{table_id}.{row_id}.{int(expires)}", expires)

    def verify(self, token: str, *, now: float) -> LinkTarget:
        raise InvalidLink("placeholder")

    @staticmethod
    def expires_at_of(text: str) -> float | None:
        found = re.search(r"/review/[^.\s]+\.\d+\.(\d+)", text or "")
        return float(found.group(1)) if found else None
