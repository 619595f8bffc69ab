"""The purge log: a retry adds to the first attempt, pending purges page by id, a page in one read."""

from __future__ import annotations

import pytest

from app.erasure.store import PurgeLog, PurgeState, PurgeTrigger
from tests.utils.stores import Stores

pytestmark = pytest.mark.both_backends


def _record(purges: PurgeLog, key: str, state: PurgeState, files: int = 0) -> None:
    purges.record(
        row_key=key,
        table_id="tbl1",
        row_id=int(key.removeprefix("k")),
        trigger=PurgeTrigger.DELETED,
        state=state,
        locations=["2026/01/01/x/a.jpg"],
        files=files,
        bytes_removed=10 * files,
        detail=None,
    )


def test_a_retry_adds_its_counts_and_forgets_the_locations_once_done(stores: Stores) -> None:
    _record(stores.purges, "k1", PurgeState.PENDING, files=1)
    _record(stores.purges, "k1", PurgeState.DONE, files=2)
    record = stores.purges.for_row("k1")
    assert record is not None and (record.state, record.files, record.bytes) == (PurgeState.DONE, 3, 30)
    assert record.locations == [] and record.trigger == "deleted"


def test_pending_purges_page_by_id(stores: Stores) -> None:
    for i in range(1, 6):
        _record(stores.purges, f"k{i}", PurgeState.DONE if i == 3 else PurgeState.PENDING)
    first = stores.purges.pending(2)
    assert [r.row_id for r in first] == [1, 2]
    assert [r.row_id for r in stores.purges.pending(2, after_id=first[-1].id)] == [4, 5]


def test_the_purges_of_many_rows_in_one_read(stores: Stores) -> None:
    for i in range(1, 4):
        _record(stores.purges, f"k{i}", PurgeState.PENDING)
    keys = ["k2", "k3", "unknown", *(f"other{i}" for i in range(2000))]  # one JSON array, however many
    assert sorted(stores.purges.for_rows(keys)) == ["k2", "k3"]
    assert stores.purges.for_rows([]) == {}
