"""The decision log: one verdict per upload, kept first-come, and what was done about it."""

from __future__ import annotations

from app.moderation.queue import Job, NewJob
from app.outcomes import Action, Decision, Reason
from tests.support import T0, Clock, Stores


def jobs(stores: Stores, *ns: int) -> list[Job]:
    stores.queue.enqueue([NewJob(f"t1:{n}:key{n}", "t1", n, {"Id": n}) for n in ns], source="webhook")
    return stores.queue.claim(len(ns))


def decide(
    stores: Stores, job: Job, decision: Decision = Decision.REJECTED, reason: Reason = Reason.NO_FACE
) -> None:
    stores.decisions.record_decision(
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
    decide(stores, approved, Decision.APPROVED, Reason.MATCH)
    decide(stores, rejected)
    clock.now += 3
    stores.decisions.record_action(approved.row_key, Action.APPROVED)
    stores.decisions.record_action(rejected.row_key, Action.DELETED)
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
