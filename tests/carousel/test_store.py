"""The carousel's approvals: published once, withdrawn, versioned for the list's ETag, pruned."""

from __future__ import annotations

import sqlite3

from app.carousel.store import NewApproval
from tests.support import T0, Clock, Stores


def _approval(n: int, politician: str = "obama") -> NewApproval:
    return NewApproval(f"t1:{n}:key{n}", "t1", n, politician, [{"path": f"download/{n}.jpg"}])


def test_publishing_twice_adds_one_approval(stores: Stores) -> None:
    stores.approvals.add(_approval(1))
    stores.approvals.add(_approval(1))
    with sqlite3.connect(stores.db.path) as db:
        rows = db.execute("SELECT row_key, politician, attachments_json FROM approvals").fetchall()
    assert rows == [("t1:1:key1", "obama", '[{"path": "download/1.jpg"}]')]


def test_live_approvals_newest_first_by_politician(stores: Stores) -> None:
    for n, politician in ((1, "obama"), (2, "biden"), (3, "obama")):
        stores.approvals.add(_approval(n, politician))
    assert [a.row_id for a in stores.approvals.approvals()] == [3, 2, 1]
    assert [a.row_id for a in stores.approvals.approvals(politician="obama")] == [3, 1]
    newest = stores.approvals.approvals(limit=1)
    assert [a.row_id for a in stores.approvals.approvals(before_id=newest[0].id)] == [2, 1]
    assert stores.approvals.live_keys("t1") == {a.row_key: a.id for a in stores.approvals.approvals()}
    assert stores.approvals.live_keys("other") == {}


def test_withdrawn_approvals_leave_the_list_and_change_the_version(stores: Stores, clock: Clock) -> None:
    stores.approvals.add(_approval(1))
    stores.approvals.add(_approval(2))
    before = stores.approvals.version()
    assert (before.live, before.changed_at) == (2, T0)
    (first,) = [a for a in stores.approvals.approvals() if a.row_id == 1]
    clock.now += 7
    stores.approvals.remove([first.id])
    after = stores.approvals.version()
    assert (after.live, after.last_id, after.changed_at) == (1, before.last_id, T0 + 7)
    assert stores.approvals.approval(first.id) is None
    assert [a.row_id for a in stores.approvals.approvals()] == [2]


def test_prune_keeps_live_approvals(stores: Stores, clock: Clock) -> None:
    stores.approvals.add(_approval(1))
    stores.approvals.add(_approval(2))
    assert stores.approvals.prune(T0 + 1000) == 0  # live approvals stay for the carousel
    (first,) = [a for a in stores.approvals.approvals() if a.row_id == 1]
    stores.approvals.remove([first.id])
    assert stores.approvals.prune(T0 - 1) == 0
    assert stores.approvals.prune(T0 + 1) == 1
    assert [a.row_id for a in stores.approvals.approvals()] == [2]
