"""The carousel's approvals: published once, withdrawn, versioned for the list's ETag, pruned; their
renditions kept and deleted with them; on SQLite and on the real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from app.carousel.store import NewApproval
from app.db import Database
from app.faces.renditions import Rendition
from app.tables import approvals
from tests.utils.clock import T0, Clock
from tests.utils.stores import Stores

pytestmark = pytest.mark.both_backends


def _approval(n: int, politician: str = "obama") -> NewApproval:
    return NewApproval(f"t1:{n}:key{n}", "t1", n, politician, [{"path": f"download/{n}.jpg"}])


def test_publishing_twice_adds_one_approval(stores: Stores) -> None:
    stores.approvals.add(_approval(1))
    stores.approvals.add(_approval(1))
    columns = approvals.c.row_key, approvals.c.politician, approvals.c.attachments_json
    rows = [tuple(r.values()) for r in stores.db.rows(sa.select(*columns))]
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


def test_renditions_live_and_leave_with_their_approval(stores: Stores) -> None:
    made = {Rendition.IMAGE: b"\xff\xd8 big", Rendition.THUMBNAIL: b"\xff\xd8 small"}
    approval_id = stores.approvals.add(_approval(1), made)
    assert stores.approvals.add(_approval(1), made) == approval_id
    assert stores.approvals.rendition(approval_id, Rendition.THUMBNAIL) == b"\xff\xd8 small"
    assert stores.approvals.keep_renditions(approval_id, {Rendition.THUMBNAIL: b"\xff\xd8 again"})
    assert stores.approvals.rendition(approval_id, Rendition.THUMBNAIL) == b"\xff\xd8 again"
    stores.approvals.remove([approval_id])
    assert stores.approvals.rendition(approval_id, Rendition.IMAGE) is None
    # Made after a withdrawal (a slow first request): not kept.
    assert not stores.approvals.keep_renditions(approval_id, made)
    assert stores.db.scalar(sa.select(sa.func.count()).select_from(sa.table("renditions"))) == 0


def test_a_withdrawn_upload_approved_again_is_a_new_approval(stores: Stores) -> None:
    first = stores.approvals.add(_approval(1))
    stores.approvals.remove([first])
    again = stores.approvals.add(_approval(1))
    assert again > first and stores.approvals.shows(_approval(1).row_key)
    assert [a.id for a in stores.approvals.approvals()] == [again]


def test_every_instance_sees_the_same_carousel(stores: Stores, database: Path | str) -> None:
    # A second connection (another instance on PostgreSQL; a second open of the same file on SQLite).
    other = Database(database)
    try:
        from app.carousel.store import ApprovalStore

        theirs = ApprovalStore(other)
        approval_id = stores.approvals.add(_approval(1), {Rendition.IMAGE: b"jpeg"})
        assert [a.id for a in theirs.approvals()] == [approval_id]
        assert theirs.rendition(approval_id, Rendition.IMAGE) == b"jpeg"
        theirs.remove([approval_id])
        assert stores.approvals.approvals() == [] and stores.approvals.version() == theirs.version()
    finally:
        other.close()
