"""The explicit-content gate in the moderation loop, on the real NocoDB and the real NudeNet model.

No explicit picture is used: the gate is configured with the labels NudeNet really reports on the
sample portraits (its face labels), so the blocking path and the review path run as they would."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from app.moderation.rows import parse_row, row_key
from harness.images import sample
from harness.loop import FIELDS, Loop, running_loop
from harness.nocodb import LocalNocoDB


@pytest.fixture(scope="module")
def loop(nocodb: LocalNocoDB, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    # FACE_FEMALE blocks from 0.75 and sends to review from 0.5; FACE_MALE blocks from 0.5.
    # NudeNet reports obama.jpg at 0.785 (FACE_FEMALE), obama2.jpg at 0.73, biden.jpg 0.52 (FACE_MALE).
    env = {
        "FACEGATE_EXPLICIT_LABELS": "FACE_FEMALE, FACE_MALE",
        "FACEGATE_EXPLICIT_MIN_SCORE": "0.75",
        "FACEGATE_EXPLICIT_REVIEW_SCORE": "0.5",
    }
    with running_loop(
        nocodb, tmp_path_factory.mktemp("facegate"), base_title="explicit", extra_env=env
    ) as running:
        yield running


def _decision(loop: Loop, row: dict[str, Any]) -> dict[str, Any]:
    key = row_key(loop.setup.table_id, parse_row(row, FIELDS))  # Ids are reused: one upload's
    deadline = time.monotonic() + 60
    while not (done := [d for d in loop.decisions(row["Id"]) if d["row_key"] == key and d["action"]]):
        assert time.monotonic() < deadline, loop.facegate.log_tail()
        time.sleep(0.1)
    return done[0]


def test_a_blocked_label_deletes_the_upload(loop: Loop) -> None:
    row = loop.submit("obama", sample("obama.jpg"))
    loop.wait_final(row, "deleted")
    decided = _decision(loop, row)
    assert (decided["decision"], decided["reason"], decided["action"]) == (
        "rejected",
        "explicit_content",
        "deleted",
    )
    assert decided["detail"].startswith("Found: FACE_FEMALE (0.7")


def test_an_uncertain_score_waits_for_a_moderator(loop: Loop) -> None:
    row = loop.submit("obama", sample("obama2.jpg"))
    decided = _decision(loop, row)
    assert (decided["decision"], decided["reason"], decided["action"]) == (
        "review",
        "explicit_content",
        "review",
    )
    current = loop.row(row["Id"])
    assert current is not None and current[FIELDS.status] == "review"
    # The note says which label scored what, against the gate's two scores, and links the page.
    first, link, *rest = current[FIELDS.note].splitlines()
    assert first.startswith("Waits for a moderator: one face, and a nudity label scoring between")
    assert re.search(
        r" Found FACE_FEMALE 0\.7[0-9] \(a moderator decides from 0\.50, deleted from 0\.75\)\.$", first
    )
    assert link.startswith(f"Reference photos and distances: {loop.facegate.url}/review/") and rest == []
    assert current[FIELDS.stamp]
