"""The decision log: one verdict per upload, kept first-come, and what was done about it."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from app.moderation.decisions import DecisionRecord
from app.moderation.queue import Job, NewJob
from app.outcomes import Action, Decision, Reason, Source
from tests.utils.clock import T0, Clock
from tests.utils.stores import Stores, fresh_stores

pytestmark = pytest.mark.both_backends


def jobs(stores: Stores, *ns: int) -> list[Job]:
    stores.queue.enqueue([NewJob(f"t1:{n}:key{n}", "t1", n, {"Id": n}) for n in ns], source="webhook")
    return stores.queue.claim(len(ns))


def decide(
    stores: Stores, job: Job, decision: Decision = Decision.REJECTED, reason: Reason = Reason.NO_FACE
) -> DecisionRecord:
    return stores.decisions.record_decision(
        row_key=job.row_key,
        table_id=job.table_id,
        row_id=job.row_id,
        politician="obama",
        decision=decision,
        reason=reason,
        detail=None,
        distances=[],
    )


def test_record_decision_keeps_the_first(stores: Stores, clock: Clock) -> None:
    [job] = jobs(stores, 1)
    log = stores.decisions
    first = log.record_decision(
        row_key=job.row_key,
        table_id=job.table_id,
        row_id=job.row_id,
        politician="obama",
        decision=Decision.APPROVED,
        reason=Reason.MATCH,
        detail="d",
        distances=[{"obama": 0.4}],
    )
    clock.now += 5
    second = log.record_decision(
        row_key=job.row_key,
        table_id=job.table_id,
        row_id=job.row_id,
        politician="biden",
        decision=Decision.REJECTED,
        reason=Reason.NO_MATCH,
        detail=None,
        distances=[],
    )
    assert second == first
    assert (first.decision, first.reason, first.distances, first.action) == (
        "approved",
        "match",
        [{"obama": 0.4}],
        None,
    )
    assert first.decision is Decision.APPROVED and first.reason is Reason.MATCH
    assert first.decided_at == T0 and first.row_id == 1 and first.table_id == "t1"
    assert log.decision_for(job.row_key) == first
    assert log.decision_for("t1:9:unknown") is None


def test_record_action(stores: Stores, clock: Clock) -> None:
    approved, rejected = jobs(stores, 1, 2)
    yes = decide(stores, approved, Decision.APPROVED, Reason.MATCH)
    no = decide(stores, rejected)
    clock.now += 3
    stores.decisions.record_action(yes.id, Action.APPROVED)
    stores.decisions.record_action(no.id, Action.DELETED)
    record = stores.decisions.decision_for(approved.row_key)
    assert record is not None and (record.action, record.acted_at) == (Action.APPROVED, T0 + 3)
    gone = stores.decisions.decision_for(rejected.row_key)
    assert gone is not None and gone.action is Action.DELETED


def test_decisions_filter_and_paginate(stores: Stores) -> None:
    outcomes = [
        (Decision.APPROVED, Reason.MATCH),
        (Decision.REJECTED, Reason.NO_FACE),
        (Decision.REJECTED, Reason.NO_MATCH),
        (Decision.REJECTED, Reason.NO_FACE),
    ]
    for job, (decision, reason) in zip(jobs(stores, 1, 2, 3, 4), outcomes, strict=True):
        decide(stores, job, decision, reason)
    log = stores.decisions
    assert [d.row_id for d in log.decisions()] == [4, 3, 2, 1]
    assert [d.row_id for d in log.decisions(decision=Decision.REJECTED)] == [4, 3, 2]
    assert [d.row_id for d in log.decisions(reason=Reason.NO_FACE)] == [4, 2]
    assert [d.row_id for d in log.decisions(row_id=3)] == [3]
    assert [d.row_id for d in log.decisions(decision=Decision.APPROVED, reason=Reason.NO_FACE)] == []
    page = log.decisions(limit=2)
    assert [d.row_id for d in page] == [4, 3]
    assert [d.row_id for d in log.decisions(limit=2, before_id=page[-1].id)] == [2, 1]


def test_prune_forgets_old_decisions(stores: Stores, clock: Clock) -> None:
    old, new = jobs(stores, 1, 2)
    decide(stores, old)
    clock.now += 100
    decide(stores, new)
    assert stores.decisions.prune(T0 + 50) == 1
    assert [d.row_id for d in stores.decisions.decisions()] == [2]


def test_a_moderator_decides_after_facegate_once_per_decision(stores: Stores, clock: Clock) -> None:
    [job] = jobs(stores, 1)
    review = decide(stores, job, Decision.REVIEW, Reason.NEAR_TOLERANCE)
    assert stores.decisions.settled(job.row_key) == review
    clock.now += 5

    def moderator(decision: Decision) -> DecisionRecord:
        return stores.decisions.record_moderator(
            row_key=job.row_key, table_id="t1", row_id=1, politician="obama", decision=decision
        )

    assert stores.decisions.awaiting_review() == 0  # decided, not acted on yet
    stores.decisions.record_action(review.id, Action.REVIEW)
    assert stores.decisions.awaiting_review() == 1
    approved = moderator(Decision.APPROVED)
    assert stores.decisions.awaiting_review() == 0
    assert (approved.source, approved.reason, approved.decided_at) == (
        Source.MODERATOR,
        Reason.MODERATOR,
        T0 + 5,
    )
    assert moderator(Decision.APPROVED) == approved  # the sweep and the webhook both saw it
    assert stores.decisions.settled(job.row_key) == approved
    facegate = stores.decisions.decision_for(job.row_key)  # facegate's own verdict stays
    assert facegate is not None and (facegate.id, facegate.action) == (review.id, Action.REVIEW)
    rejected = moderator(Decision.REJECTED)  # and changed their mind
    assert stores.decisions.settled_many([job.row_key, "t1:9:none"]) == {job.row_key: rejected}
    assert [d.source for d in stores.decisions.decisions(row_id=1)] == [Source.MODERATOR] * 2 + [
        Source.FACEGATE
    ]


def test_a_file_from_before_moderators_is_upgraded(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "facegate.db")
    old.executescript(
        "CREATE TABLE decisions (id INTEGER PRIMARY KEY, row_key TEXT NOT NULL UNIQUE,"
        " table_id TEXT NOT NULL, row_id INTEGER NOT NULL, politician TEXT, decision TEXT NOT NULL,"
        " reason TEXT NOT NULL, detail TEXT, distances_json TEXT NOT NULL, action TEXT,"
        " decided_at REAL NOT NULL, acted_at REAL);"
        "INSERT INTO decisions VALUES (7, 't1:1:k', 't1', 1, 'obama', 'approved', 'match', NULL, '[]',"
        " 'approved', 1.0, 2.0);"
    )
    old.commit()
    old.close()
    with fresh_stores(tmp_path / "facegate.db") as upgraded:
        record = upgraded.decisions.settled("t1:1:k")
        assert record is not None and (record.id, record.source, record.action) == (
            7,
            Source.FACEGATE,
            Action.APPROVED,
        )
        moderated = upgraded.decisions.record_moderator(
            row_key="t1:1:k", table_id="t1", row_id=1, politician="obama", decision=Decision.REJECTED
        )
        assert upgraded.decisions.settled("t1:1:k") == moderated


def test_a_restored_decision_is_facegates_one_decision(stores: Stores, clock: Clock) -> None:
    # The log rebuilt from a row's stamp: the decision, its time and what was done, once per upload.
    [job] = jobs(stores, 1)
    restore: dict[str, Any] = {
        "row_key": job.row_key,
        "table_id": job.table_id,
        "row_id": job.row_id,
        "politician": "obama",
        "decision": Decision.REVIEW,
        "reason": Reason.NEAR_TOLERANCE,
        "decided_at": T0 - 86400,
        "action": Action.REVIEW,
    }
    restored = stores.decisions.record_restored(**restore)
    assert (restored.source, restored.restored, restored.action) == (Source.FACEGATE, True, Action.REVIEW)
    assert (restored.decided_at, restored.acted_at, restored.distances) == (T0 - 86400, T0, [])
    assert stores.decisions.decision_for(job.row_key) == restored
    # Neither a second restore nor a verdict adds a facegate decision: the first one stands.
    assert stores.decisions.record_restored(**restore | {"decision": Decision.APPROVED}) == restored
    assert decide(stores, job, Decision.APPROVED, Reason.MATCH) == restored
    assert stores.decisions.decisions() == [restored]
    assert not decide(stores, jobs(stores, 2)[0]).restored


def test_a_moderators_decision_made_again_is_logged_anew(stores: Stores, clock: Clock) -> None:
    [job] = jobs(stores, 1)
    decide(stores, job, Decision.REVIEW, Reason.NEAR_TOLERANCE)

    def moderator(decision: Decision) -> DecisionRecord:
        clock.now += 10
        return stores.decisions.record_moderator(
            row_key=job.row_key, table_id="t1", row_id=1, politician="obama", decision=decision
        )

    first = moderator(Decision.REJECTED)
    assert moderator(Decision.REJECTED) == first  # still the same rejection
    taken_back = moderator(Decision.REVIEW)
    again = moderator(Decision.REJECTED)  # a new rejection: its grace period starts now
    assert again.id > taken_back.id > first.id and again.decided_at == T0 + 40
    assert stores.decisions.settled(job.row_key) == again
    # The moderator's latest decision of each kind, and facegate's.
    assert [(d.source, d.decision) for d in stores.decisions.decisions(row_id=1)] == [
        (Source.MODERATOR, Decision.REJECTED),
        (Source.MODERATOR, Decision.REVIEW),
        (Source.FACEGATE, Decision.REVIEW),
    ]


def test_text_an_uploader_forged_with_a_nul_is_logged_not_refused(stores: Stores) -> None:
    # PostgreSQL refuses NUL in a text column: the decision would fail, and the row stay undecided.
    [job] = jobs(stores, 1)
    record = stores.decisions.record_decision(
        row_key=job.row_key,
        table_id=job.table_id,
        row_id=job.row_id,
        politician=None,
        decision=Decision.REJECTED,
        reason=Reason.UNREADABLE_IMAGE,
        detail="Attachment origin http://a\x00b is not NocoDB's",
        distances=[],
    )
    assert record.detail == "Attachment origin http://a\ufffdb is not NocoDB's"
    assert stores.decisions.decisions()[0].detail == record.detail
