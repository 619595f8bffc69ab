"""What a purge costs on a table of 10,000 rows in the real NocoDB (issue 26, point 4), counted by a
proxy between facegate and NocoDB: the same few requests whatever the file is called (spaces,
parentheses, ``+``), never a listing of the table; and rejected uploads with such names do not hold
up a genuine one behind them."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from PIL import Image

from app.config import STORE_FILE
from app.integrations.nocodb.client import PAGE_SIZE
from app.moderation.rows import new_job, parse_row
from harness.images import encode, sample
from harness.loop import FIELDS, Loop, insert_rows, running_loop
from harness.nocodb import LocalNocoDB
from harness.proxy import CountingProxy
from tests.utils.stores import fresh_stores

TABLE_ROWS = 10_000
HOSTILE_UPLOADS = 60
ODD_NAME = "my photo (1)+final {n}.png"
PLAIN_NAME = "photo_{n}.png"
# 10,000 rows inserted, then listed by facegate's start-up sweep: longer than one test's default.
pytestmark = pytest.mark.timeout(1200)
QUIET_SECONDS = 3.0


@dataclass(frozen=True)
class Setup:
    loop: Loop
    proxy: CountingProxy


@pytest.fixture(scope="module")
def setup(nocodb: LocalNocoDB, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """facegate behind a counting proxy, moderating a table of 10,000 rows it has decided before
    (the operator's, bulk-inserted while facegate was stopped; their jobs are done)."""
    workdir = tmp_path_factory.mktemp("facegate")
    port = urlsplit(nocodb.url).port
    assert port is not None
    with (
        CountingProxy(port, latency=0, pause=0) as proxy,
        running_loop(
            nocodb, workdir, base_title="purge cost", facegate_nocodb_url=proxy.url, sweep_seconds=3600
        ) as loop,
    ):
        loop.facegate.stop()
        table_id = loop.setup.table_id
        started = time.monotonic()
        with loop.api(timeout=120) as api:
            rows = insert_rows(
                api, table_id, {"op.jpg": sample("obama2.jpg")}, [("obama", "op.jpg")] * TABLE_ROWS
            )
        with fresh_stores(workdir / "data" / STORE_FILE) as stores:
            stores.queue.enqueue([new_job(table_id, parse_row(row, FIELDS)) for row in rows], source="test")
            with stores.db.tx() as conn:
                conn.execute(sa.text("UPDATE jobs SET state = 'done'"))
        proxy.targets.clear()
        loop.facegate.start()  # its start-up sweep lists the 10,000 rows, and queues none
        _swept(proxy, table_id)
        print(f"\n[purge cost] {TABLE_ROWS} rows inserted and swept in {time.monotonic() - started:.0f} s")
        yield Setup(loop, proxy)


def _swept(proxy: CountingProxy, table_id: str) -> None:
    """Wait for facegate's start-up sweep: a listing of every page, then nothing for a while."""
    deadline = time.monotonic() + 600
    pages, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        listed = _records_requests(proxy, table_id)["list"]
        if listed != pages:
            pages, quiet_since = listed, time.monotonic()
        elif pages >= TABLE_ROWS // PAGE_SIZE and time.monotonic() - quiet_since > QUIET_SECONDS:
            return
        time.sleep(0.2)
    raise AssertionError(f"the start-up sweep listed {pages} pages")


def _records_requests(proxy: CountingProxy, table_id: str) -> Counter[str]:
    """facegate's requests to the table's records API, by kind: listings, reads of one row, writes."""
    records = f"/api/v2/tables/{table_id}/records"
    kinds: Counter[str] = Counter()
    for target, count in proxy.targets.items():
        method, path = target.split(" ", 1)
        if path == records:
            kinds["list" if method == "GET" else method] += count
        elif path.startswith(records + "/"):
            kinds["read"] += count
    return kinds


def _purged(loop: Loop, row_id: int) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        decided = loop.decisions(row_id)
        if decided and (purge := decided[0]["purge"]) and purge["state"] == "done":
            return dict(purge)
        time.sleep(0.1)
    raise AssertionError(f"row {row_id}: no purge done:\n{loop.facegate.log_tail()}")


def _one_rejection(setup: Setup, name: str) -> Counter[str]:
    setup.proxy.targets.clear()
    row = setup.loop.submit("obama", sample("cat.png"), name)
    setup.loop.wait_final(row, "deleted")
    purge = _purged(setup.loop, row["Id"])
    assert purge["files"] == 4  # the original and NocoDB's three thumbnails
    return _records_requests(setup.proxy, setup.loop.setup.table_id)


def test_a_purge_costs_the_same_whatever_the_file_is_called(setup: Setup) -> None:
    plain = _one_rejection(setup, PLAIN_NAME.format(n=0))
    odd = _one_rejection(setup, ODD_NAME.format(n=0))
    print(f"\n[purge cost] 10,000 rows, records API requests per rejection: {dict(plain)}; odd: {dict(odd)}")
    assert odd == plain
    # Two one-page listings (provenance: does an earlier row name the file? and the insert event's
    # nudge: the rows created since the newest facegate knows) and two one-row listings confirming the
    # row is gone (the eraser's and the delete event's: "gone" is never taken from one read), never the
    # table's 100 pages.
    assert odd["list"] <= 4 and sum(odd.values()) <= 10


def _delay_behind(setup: Setup, name: str) -> float:
    """Seconds from a genuine upload's submission to its approval, submitted right behind 60 rejected
    uploads called ``name`` (small pictures without a face: their decisions cost little, their
    purges what they cost)."""
    loop = setup.loop
    blank = encode(Image.new("RGB", (64, 64), "white"), "PNG")
    with ThreadPoolExecutor(8) as pool:
        hostile = list(
            pool.map(lambda n: loop.submit("obama", blank, name.format(n=n)), range(HOSTILE_UPLOADS))
        )
    started = time.monotonic()
    genuine = loop.submit("obama", sample("obama3.jpg"))
    loop.wait_final(genuine, "approved")
    delay = time.monotonic() - started
    for row in hostile:
        loop.wait_final(row, "deleted")
    return delay


def test_rejections_with_odd_names_do_not_hold_up_a_genuine_upload(setup: Setup) -> None:
    plain = _delay_behind(setup, "plain_{n}.png")
    odd = _delay_behind(setup, "odd (copy) {n}+x.png")
    behind = f"a genuine upload behind {HOSTILE_UPLOADS} rejections"
    print(f"\n[purge cost] {behind}: plain names {plain:.1f} s, odd names {odd:.1f} s")
    assert odd < plain + 10
