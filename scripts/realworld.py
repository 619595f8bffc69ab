"""Shared by scripts.faults and scripts.load: the bookkeeping that checks every upload was decided, and
acted on, exactly once. The servers themselves (NocoDB, a bootstrapped base, facegate) come from harness.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from app.moderation.rows import parse_row, row_key
from harness.loop import FIELDS, OPERATOR_KEY, list_rows


@dataclass(frozen=True)
class Photo:
    politician: str
    file: str
    expected: str  # the final row state: "approved" or "deleted"
    reason: str

    @property
    def decision(self) -> str:
        return "approved" if self.expected == "approved" else "rejected"


# Half approved, half deleted; rocket.jpg (no face) is cheap to reject.
PHOTOS = (
    Photo("obama", "obama2.jpg", "approved", "match"),
    Photo("obama", "biden.jpg", "deleted", "no_match"),
    Photo("biden", "biden.jpg", "approved", "match"),
    Photo("biden", "rocket.jpg", "deleted", "no_face"),
)


@dataclass(frozen=True)
class Upload:
    """One submitted upload: NocoDB may give its Id to a later upload, so the key tells them apart."""

    row_id: int
    key: str
    identity: str
    photo: Photo

    @classmethod
    def of(cls, table_id: str, row: dict[str, Any], photo: Photo) -> Upload:
        parsed = parse_row(row, FIELDS)
        return cls(parsed.row_id, row_key(table_id, parsed), parsed.identity(), photo)


def state_of(upload: Upload, rows: dict[int, dict[str, Any]]) -> str:
    """approved, deleted, pending (blank Status) or the Status found."""
    current = rows.get(upload.row_id)
    if current is None or parse_row(current, FIELDS).identity() != upload.identity:
        return "deleted"  # gone, or its Id now belongs to a later upload
    status = current.get("Status")
    return "approved" if status == "approved" else f"status={status!r}" if status else "pending"


def wait_decided(
    uploads: Callable[[], Sequence[Upload]],
    api: httpx.Client,
    table_id: str,
    *,
    until: Callable[[int], bool],
    timeout: float,
) -> bool:
    """Poll NocoDB until ``until(number decided)``; False at the deadline. Outages are waited out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            rows = list_rows(api, table_id)
            if until(sum(state_of(u, rows) != "pending" for u in uploads())):
                return True
        time.sleep(0.25)
    return False


def all_decisions(facegate_url: str) -> dict[str, list[dict[str, Any]]]:
    """facegate's whole decision log, grouped by row_key."""
    found: dict[str, list[dict[str, Any]]] = {}
    cursor: int | None = None
    with httpx.Client(base_url=facegate_url, headers={"X-API-Key": OPERATOR_KEY}, timeout=30) as http:
        while True:
            params = {"limit": 500} | ({"cursor": cursor} if cursor else {})
            response = http.get("/decisions", params=params)
            response.raise_for_status()
            body = response.json()
            for item in body["items"]:
                found.setdefault(item["row_key"], []).append(item)
            cursor = body["next_cursor"]
            if cursor is None:
                return found


@dataclass
class RunTally:
    """The figures of one run; ``problems`` lists every upload lost, decided wrongly or twice."""

    submitted: int = 0
    approved: int = 0
    deleted: int = 0
    lost: int = 0
    wrong: int = 0
    decisions_per_upload: Counter[int] = field(default_factory=Counter)
    actions_per_upload: Counter[int] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"submitted {self.submitted}",
            f"decided {self.approved + self.deleted} as expected"
            f" (approved {self.approved}, deleted {self.deleted})",
            f"lost {self.lost}  wrong {self.wrong}",
            f"decisions per upload {dict(sorted(self.decisions_per_upload.items()))}",
            f"actions per upload {dict(sorted(self.actions_per_upload.items()))}"
            f"  actions {dict(self.actions)}",
        ]


def evaluate(
    uploads: Sequence[Upload], rows: dict[int, dict[str, Any]], decisions: dict[str, list[dict[str, Any]]]
) -> RunTally:
    tally = RunTally(submitted=len(uploads))
    for upload in uploads:
        photo, state = upload.photo, state_of(upload, rows)
        records = decisions.get(upload.key, [])
        acted = [r["action"] for r in records if r["action"] is not None]
        tally.decisions_per_upload[len(records)] += 1
        tally.actions_per_upload[len(acted)] += 1
        tally.actions.update(acted)
        where = f"row {upload.row_id} ({photo.politician}/{photo.file}, key {upload.key})"
        if state == "pending":
            tally.lost += 1
            tally.problems.append(f"{where}: lost, Status still blank")
        elif state != photo.expected or any(
            (r["decision"], r["reason"]) != (photo.decision, photo.reason) for r in records
        ):
            tally.wrong += 1
            got = [(r["decision"], r["reason"], r["action"]) for r in records]
            tally.problems.append(f"{where}: {state}, decisions {got}, expected {photo.expected}")
        elif photo.expected == "approved":
            tally.approved += 1
        else:
            tally.deleted += 1
        if len(records) > 1 or len(acted) > 1:
            tally.problems.append(f"{where}: {len(records)} decisions, {len(acted)} actions")
        elif state != "pending" and len(acted) != 1:
            tally.problems.append(f"{where}: {state} in NocoDB but {len(acted)} actions recorded")
    return tally
