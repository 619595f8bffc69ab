"""Several facegate instances on one PostgreSQL, against the real NocoDB.

NocoDB's webhook calls both instances (one hook each), so every row is announced twice and the queue's
claims decide who moderates it. One instance is killed with SIGKILL between NocoDB's write and its
answer; the other takes its jobs over once their lease runs out. Each instance reaches NocoDB through
a counting proxy of its own, so the writes per row are counted whoever made them.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from harness.facegate import OPERATOR_KEY, WEBHOOK_SECRET, FacegateServer, facegate_env
from harness.instances import (
    SharedDatabase,
    carousels_agree,
    held_at_kill,
    running_facegates,
    running_loops,
    watch_takeover,
)
from harness.net import free_port
from harness.nocodb import LocalNocoDB
from harness.postgres import LocalPostgres
from harness.proxy import CountingProxy
from scripts.faults import Burst, settled
from scripts.realworld import wait_decided

pytestmark = pytest.mark.integration

LEASE_SECONDS = 5
UPLOADS = 16
DECIDED_BEFORE_KILL = 4
# One face process each (two cores for two instances, NocoDB and PostgreSQL), two jobs in flight: the
# killed instance holds more than the one whose write it never heard back about.
INSTANCE_ENV = {
    "FACEGATE_WORKERS": "1",
    "FACEGATE_QUEUE_CONCURRENCY": "2",
    "FACEGATE_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
}
# Claimed again once the lease ran out: the runner wakes when a lease ends, a slot may be busy a while.
TAKEOVER_SLACK_SECONDS = 10.0

T = TypeVar("T")


@pytest.fixture
def database_url(postgres: LocalPostgres) -> Iterator[str]:
    name = f"instances_{uuid.uuid4().hex[:12]}"
    yield postgres.create_database(name)
    postgres.drop_database(name)


def _until(check: Callable[[], T | None], what: str, timeout: float = 60) -> T:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return found


def _thumbnail(server: FacegateServer, approval_id: int) -> bytes:
    response = httpx.get(f"{server.url}/approved/{approval_id}/thumbnail", timeout=30)
    response.raise_for_status()
    assert response.content[:2] == b"\xff\xd8"
    return response.content


def _webhooks_received(server: FacegateServer) -> float:
    route = {"route": "/webhooks/nocodb", "method": "POST", "status": "202"}
    return server.metric("facegate_http_request_seconds_count", **route)


def test_a_burst_on_two_instances_survives_one_killed_mid_write(
    nocodb: LocalNocoDB, database_url: str, tmp_path: Path
) -> None:
    """Every upload reaches its final state, decided and written once, whichever instance claims it."""
    nocodb_port = int(nocodb.url.rsplit(":", 1)[1])
    with (
        CountingProxy(nocodb_port, latency=0) as proxy_a,
        CountingProxy(nocodb_port, latency=0) as proxy_b,
        running_loops(
            nocodb,
            tmp_path,
            base_title="instances",
            database_url=database_url,
            nocodb_urls=(proxy_a.url, proxy_b.url),
            extra_env=INSTANCE_ENV,
        ) as (a, b),
        SharedDatabase(database_url) as db,
        a.api(timeout=60) as api,
    ):
        table_id = a.setup.table_id
        burst = Burst(a)  # through the public form: NocoDB announces each row to both instances
        submitter = threading.Thread(target=burst.run, args=(UPLOADS,), kwargs={"pace": 0.3})
        started = time.monotonic()
        submitter.start()
        try:
            assert wait_decided(
                burst.snapshot, api, table_id, until=lambda n: n >= DECIDED_BEFORE_KILL, timeout=90
            )

            def published_by_a() -> int | None:
                """An approval A made (its PATCH, its renditions), once on the carousel."""
                shown = db.approval_ids()
                mine = proxy_a.written_rows("PATCH")
                return next(
                    (shown[u.key] for u in burst.snapshot() if u.row_id in mine and u.key in shown), None
                )

            made_by_a = _until(published_by_a, "instance A approved nothing")
            thumbnail_by_a = _thumbnail(a.facegate, made_by_a)
            assert carousels_agree(a.facegate, b.facegate)
            webhooks_a = _webhooks_received(a.facegate)
            decided_by_a = a.facegate.metric("facegate_verdicts_total", source="moderation")

            # A's next write, an approval or a deletion (it may not get another approval before the
            # burst ends): NocoDB does it, A never hears back.
            proxy_a.hold = {"PATCH", "DELETE"}
            assert proxy_a.held.wait(60) and proxy_a.held_write, "instance A wrote nothing more"
            a.facegate.stop(signal.SIGKILL)
            killed_at = time.time()
            held_method, (held_row,) = proxy_a.held_write
            held = held_at_kill(db, held_row)
            takeover = watch_takeover(db, held, killed_at, timeout=60)
        finally:
            submitter.join()
        uploads = burst.snapshot()
        assert len(uploads) == UPLOADS
        assert wait_decided(burst.snapshot, api, table_id, until=lambda n: n == UPLOADS, timeout=120)
        drained = time.monotonic() - started
        verdict = settled(uploads, b, api)
        # Every upload in its expected final state, decided once (as the right photo), acted on once.
        assert verdict.problems == [], "\n".join(verdict.problems) + "\n" + b.facegate.log_tail()
        assert (verdict.approved, verdict.deleted) == (UPLOADS // 2, UPLOADS // 2)

        # The decision log as the shared database has it: one facegate decision per upload, none else.
        assert db.facegate_decisions() == Counter({u.key: 1 for u in uploads})
        # One successful NocoDB write per upload, whichever instance made it (an Id NocoDB reused
        # after a deletion serves two uploads, and is written once for each).
        writes = proxy_a.successful_writes() + proxy_b.successful_writes()
        assert writes == Counter(u.row_id for u in uploads)

        # A held jobs when it died (the unanswered write among them); B claimed each once its lease ran
        # out, never before, and finished it.
        assert held_row in {c.row_id for c in held.values()}
        assert takeover.complete, f"not finished after the kill: {set(held) - set(takeover.finished_after)}"
        assert set(takeover.claimed_after) == set(held)
        assert not {c.instance for c in held.values()} & set(takeover.claimed_by.values())
        for job_id, claimed in takeover.claimed_after.items():
            lease_left = (held[job_id].lease_until or killed_at) - killed_at
            assert claimed <= lease_left + TAKEOVER_SLACK_SECONDS
            if job_id in takeover.claimed_by:  # seen running: the claim's own time
                assert claimed >= lease_left
        # An approval A wrote but never recorded is on B's carousel, its renditions made by B from
        # NocoDB's copy (a deletion is in the bookkeeping above: the row gone, its action recorded).
        held_thumbnail: tuple[int, bytes] | None = None  # approval id, as B serves it
        if held_method == "PATCH":
            (held_upload,) = (u for u in uploads if u.row_id == held_row and u.photo.expected == "approved")
            held_approval = db.approval_ids()[held_upload.key]
            held_thumbnail = held_approval, _thumbnail(b.facegate, held_approval)

        # Renditions live in the database: B serves the very thumbnail A made.
        assert _thumbnail(b.facegate, made_by_a) == thumbnail_by_a
        # NocoDB announced every row to both; both decided some.
        assert webhooks_a >= DECIDED_BEFORE_KILL and decided_by_a >= 1
        webhooks_b = _webhooks_received(b.facegate)
        assert webhooks_b >= UPLOADS
        decided_by_b = b.facegate.metric("facegate_verdicts_total", source="moderation")
        assert decided_by_b >= 1

        a.facegate.start()  # back, on the same database: the same carousel as B's
        assert carousels_agree(a.facegate, b.facegate)
        if held_thumbnail is not None:
            assert _thumbnail(a.facegate, held_thumbnail[0]) == held_thumbnail[1]
    print(
        f"\n[instances] {UPLOADS} uploads drained in {drained:.1f} s; A held {len(held)} jobs at the kill"
        f" (its {held_method} unanswered),"
        f" its leases ran {takeover.lease_left:.1f} s more; B claimed them after"
        f" {sorted(round(t, 2) for t in takeover.claimed_after.values())} s and finished them after"
        f" {sorted(round(t, 2) for t in takeover.finished_after.values())} s; decided by A before the kill"
        f" {decided_by_a:.0f}, by B {decided_by_b:.0f}; successful writes per upload"
        f" {dict(Counter(writes.values()))}; webhook posts A {webhooks_a:.0f} (before the kill),"
        f" B {webhooks_b:.0f}"
    )


def test_two_instances_on_one_postgres_both_start_and_share_one_queue(
    database_url: str, tmp_path: Path
) -> None:
    """Started at once on an empty database (they migrate it one after the other); a row announced to
    one is in the other's queue."""
    env = {"FACEGATE_DATABASE_URL": database_url, "FACEGATE_NOCODB_TABLE_ID": "m1"}
    servers = [
        FacegateServer(
            port=free_port(), env=facegate_env(tmp_path / name, workers=1) | env, workdir=tmp_path / name
        )
        for name in ("a", "b")
    ]
    with running_facegates(servers) as (a, b):
        for server in (a, b):
            assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
        row = {"Id": 7, "CreatedAt": "2026-11-22 02:18:30+00:00", "Politician": "obama", "Image": None}
        event = {"type": "records.after.insert", "version": "v3", "data": {"table_id": "m1", "rows": [row]}}
        posted = httpx.post(
            f"{a.url}/webhooks/nocodb", json=event, headers={"X-Facegate-Secret": WEBHOOK_SECRET}, timeout=10
        )
        assert posted.status_code == 202 and posted.json()["queued"] == 1
        jobs = httpx.get(f"{b.url}/jobs", headers={"X-API-Key": OPERATOR_KEY}, timeout=10).json()["items"]
        assert [(j["row_id"], j["state"]) for j in jobs] == [(7, "queued")]


def test_sqlite_still_refuses_a_second_process_on_one_data_dir(tmp_path: Path) -> None:
    """Without a database URL the queue is a file of one process's: of two facegates started at once on
    one data folder, one serves and the other exits saying why (it would hand the first one's running
    jobs back to the queue)."""
    env = facegate_env(tmp_path / "first", workers=1)  # the second one reads the same folders
    (tmp_path / "second").mkdir()
    servers = [FacegateServer(port=free_port(), env=env, workdir=tmp_path / n) for n in ("first", "second")]

    def start(server: FacegateServer) -> str:
        try:
            server.start()
        except RuntimeError:
            return server.log_path.read_text()
        return "ready"

    try:
        with ThreadPoolExecutor(len(servers)) as pool:
            outcomes = list(pool.map(start, servers))
    finally:
        for server in servers:
            with contextlib.suppress(ProcessLookupError):  # the one that exited
                server.stop()
    assert outcomes.count("ready") == 1, outcomes
    (refused,) = (outcome for outcome in outcomes if outcome != "ready")
    assert "is used by another facegate process" in refused
