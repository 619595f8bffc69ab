"""The reference page's tests: facegate with links on, over the fake NocoDB, and a decided upload."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from app.config import Settings
from app.moderation.decisions import DecisionLog
from app.moderation.links import ReviewLinks
from app.moderation.rows import parse_row, row_key
from app.outcomes import Decision, Reason
from harness.loop import FIELDS
from tests.utils.fake_nocodb import BASE, TABLE, FakeNocoDB

SECRET = "review-page-tests-stamp-secret-0123456789"
TTL = 3600.0


def review_settings(reference_dir: Path, data_dir: Path, public_url: str) -> Settings:
    """facegate with links on, over the fake NocoDB; no periodic sweep."""
    return Settings(
        _env_file=None,
        reference_dir=reference_dir,
        data_dir=data_dir,
        workers=1,
        nocodb_url=BASE,
        nocodb_api_token="token",
        nocodb_table_id=TABLE,
        stamp_secret=SECRET,
        public_url=public_url,
        review_link_seconds=TTL,
        sweep_interval_seconds=0,
        auth_failures_per_minute=5,
    )


@dataclass
class QuietNocoDB:
    """The fake NocoDB, whose listings are empty: the start-up sweep finds nothing to decide, and
    the rows stay as the tests wrote them."""

    fake: FakeNocoDB

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path == f"/api/v2/tables/{TABLE}/records":
            return httpx.Response(200, json={"list": [], "pageInfo": {"isLastPage": True}})
        return self.fake.handler(request)


def decided(
    fake: FakeNocoDB,
    decisions: DecisionLog,
    row_id: int,
    photo: tuple[str, bytes],
    *,
    politician: str = "obama",
    distance: float = 0.58,
    reason: Reason = Reason.NEAR_TOLERANCE,
    detail: str | None = None,
) -> str:
    """A row of ``fake`` and facegate's logged decision on it; its key."""
    raw: dict[str, Any] = fake.add(row_id, politician, photo)
    key = row_key(TABLE, parse_row(raw, FIELDS))
    decision = (
        Decision.REVIEW if reason in (Reason.NEAR_TOLERANCE, Reason.EXPLICIT_CONTENT) else Decision.APPROVED
    )
    decisions.record_decision(
        row_key=key,
        table_id=TABLE,
        row_id=row_id,
        politician=politician,
        decision=decision,
        reason=reason,
        detail=detail,
        distances=[{"obama": distance, "biden": 0.83}],
    )
    return key


def link(public_url: str, row_id: int, key: str, *, now: float | None = None) -> str:
    links = ReviewLinks(SECRET, public_url, TTL)
    return links.link(table_id=TABLE, row_id=row_id, row_key=key, now=time.time() if now is None else now).url
