"""Several facegate instances on one PostgreSQL database, moderating one bootstrapped base. Used by the
several-instances test, the ``instances`` fault scenario and ``scripts.load --instances``.

Each instance has its own folder, data folder and port. NocoDB's webhook calls every one of them (one
hook each), so each row is announced to all, and their claims on the shared queue decide who moderates
it. ``SharedDatabase`` reads that database directly, apart from facegate's API, and ``watch_takeover``
follows what the survivors do with a killed instance's jobs.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from app.tables import approvals, decisions, jobs
from harness.facegate import FacegateServer
from harness.loop import Loop, add_webhook, bootstrap_base, loop_env
from harness.net import free_port
from harness.nocodb import LocalNocoDB

__all__ = [
    "Claim",
    "SharedDatabase",
    "Takeover",
    "carousels_agree",
    "held_at_kill",
    "running_facegates",
    "running_loops",
    "watch_takeover",
]

TAKEOVER_POLL_SECONDS = 0.1
# /approved is read up to this many times until the first instance's answer holds still.
CAROUSEL_READS = 50


@contextlib.contextmanager
def running_loops(
    nocodb: LocalNocoDB,
    workdir: Path,
    *,
    base_title: str,
    database_url: str,
    count: int = 2,
    webhook: bool = True,
    nocodb_urls: Sequence[str | None] = (),
    sweep_seconds: int = 5,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[list[Loop]]:
    """``count`` facegate instances on ``database_url`` for one new base, started side by side in
    ``workdir/instance-<n>``; one ``Loop`` each (the same base), stopped however the block ends.

    ``webhook=False`` points NocoDB's one webhook at a closed port (the instances see only the events
    posted to them); ``nocodb_urls[i]``, when given, is the proxy instance ``i`` reaches NocoDB through.
    """
    ports = [free_port() for _ in range(count)]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    setup = bootstrap_base(
        nocodb.url, urls[0] if webhook else f"http://127.0.0.1:{free_port()}", base_title=base_title
    )
    if webhook:
        for number, url in enumerate(urls[1:], start=2):
            add_webhook(nocodb.url, setup, url, number)
    servers = []
    for index, port in enumerate(ports):
        folder = workdir / f"instance-{index + 1}"
        proxy = nocodb_urls[index] if index < len(nocodb_urls) else None
        env = loop_env(nocodb, setup, folder, nocodb_url=proxy, sweep_seconds=sweep_seconds)
        env |= {"FACEGATE_DATABASE_URL": database_url, **(extra_env or {})}
        servers.append(FacegateServer(port=port, env=env, workdir=folder))
    with running_facegates(servers):
        yield [Loop(nocodb=nocodb, setup=setup, facegate=server) for server in servers]


@contextlib.contextmanager
def running_facegates(servers: Sequence[FacegateServer]) -> Iterator[Sequence[FacegateServer]]:
    """Start the servers side by side (their face processes' start-up is most of the wait); stop
    them all however the block ends."""
    try:
        _each_at_once(servers, FacegateServer.start)
        yield servers
    finally:
        _each_at_once(servers, _stop)


def _stop(server: FacegateServer) -> None:
    with contextlib.suppress(ProcessLookupError):  # it died at start-up, or a fault killed it
        server.stop()


def _each_at_once(servers: Sequence[FacegateServer], call: Callable[[FacegateServer], None]) -> None:
    with ThreadPoolExecutor(len(servers)) as pool:
        for future in [pool.submit(call, server) for server in servers]:
            future.result()


def _carousel(server: FacegateServer) -> tuple[str | None, Any]:
    response = httpx.get(f"{server.url}/approved", params={"limit": 100}, timeout=10)
    response.raise_for_status()
    return response.headers.get("ETag"), response.json()


def carousels_agree(first: FacegateServer, other: FacegateServer) -> bool:
    """Whether both answer /approved alike (ETag and body), read while ``first``'s answer held still
    (moderation may publish meanwhile); False also when it never held still."""
    for _ in range(CAROUSEL_READS):
        before, theirs, after = _carousel(first), _carousel(other), _carousel(first)
        if before == after:
            return theirs == before
        time.sleep(0.2)
    return False


@dataclass(frozen=True)
class Claim:
    """A job as the shared queue has it: who runs it (``<instance>:<claim>``) and until when."""

    job_id: int
    row_id: int
    row_key: str
    state: str
    attempts: int
    claimed_by: str | None
    lease_until: float | None
    updated_at: float

    @property
    def instance(self) -> str | None:
        return None if self.claimed_by is None else self.claimed_by.split(":", 1)[0]


class SharedDatabase:
    """A read-only look at the database the instances share, with a connection of its own."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(
            sa.make_url(url).set(drivername="postgresql+psycopg"), poolclass=NullPool
        )

    def jobs(self, *, running: bool = False, ids: Sequence[int] | None = None) -> dict[int, Claim]:
        query = sa.select(jobs)
        if running:
            query = query.where(jobs.c.state == "running")
        if ids is not None:
            query = query.where(jobs.c.id.in_(list(ids)))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return {
            r["id"]: Claim(
                job_id=r["id"],
                row_id=r["row_id"],
                row_key=r["row_key"],
                state=r["state"],
                attempts=r["attempts"],
                claimed_by=r["claimed_by"],
                lease_until=r["lease_until"],
                updated_at=r["updated_at"],
            )
            for r in rows
        }

    def facegate_decisions(self) -> Counter[str]:
        """facegate's own decisions (not moderators'), counted by upload (row key)."""
        query = sa.select(decisions.c.row_key).where(decisions.c.source == "facegate")
        with self.engine.connect() as conn:
            return Counter(conn.execute(query).scalars())

    def approval_ids(self) -> dict[str, int]:
        """The carousel's live approvals: approval id by upload (row key)."""
        query = sa.select(approvals.c.row_key, approvals.c.id).where(approvals.c.removed_at.is_(None))
        with self.engine.connect() as conn:
            return {key: approval_id for key, approval_id in conn.execute(query).all()}

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> SharedDatabase:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@dataclass
class Takeover:
    """The jobs a killed instance held, and when the others claimed and finished each (seconds after
    the kill; a claim is timed by the queue's own clock when it was seen running)."""

    killed_at: float
    held: dict[int, Claim]
    claimed_after: dict[int, float] = field(default_factory=dict)
    finished_after: dict[int, float] = field(default_factory=dict)
    claimed_by: dict[int, str] = field(default_factory=dict)  # the new instance, when seen running

    @property
    def lease_left(self) -> float:
        """How long the killed instance's leases still ran after the kill (the longest)."""
        return max(
            ((c.lease_until or self.killed_at) - self.killed_at for c in self.held.values()), default=0.0
        )

    @property
    def complete(self) -> bool:
        return set(self.finished_after) == set(self.held)


def held_at_kill(db: SharedDatabase, row_id: int) -> dict[int, Claim]:
    """Right after an instance was killed while writing row ``row_id``: every job it held (its claim
    on that row names the instance). Empty if no running job is on that row."""
    running = db.jobs(running=True)
    # The oldest: an upload that NocoDB gave the same Id after a deletion is a later job.
    on_row = sorted((c for c in running.values() if c.row_id == row_id), key=lambda c: c.job_id)
    if not on_row:
        return {}
    killed = on_row[0].instance
    return {job_id: claim for job_id, claim in running.items() if claim.instance == killed}


def watch_takeover(db: SharedDatabase, held: dict[int, Claim], killed_at: float, timeout: float) -> Takeover:
    """Poll the queue until every job in ``held`` is finished, or ``timeout`` seconds."""
    seen = Takeover(killed_at=killed_at, held=held)
    deadline = time.monotonic() + timeout
    while held and not seen.complete and time.monotonic() < deadline:
        now = time.time()
        for job_id, job in db.jobs(ids=list(held)).items():
            before = held[job_id]
            if job.attempts > before.attempts and job_id not in seen.claimed_after:
                claimed = job.updated_at if job.state == "running" else now
                seen.claimed_after[job_id] = claimed - killed_at
                if job.instance is not None:
                    seen.claimed_by[job_id] = job.instance
            if job.state == "done" and job_id not in seen.finished_after:
                seen.finished_after[job_id] = now - killed_at
        time.sleep(TAKEOVER_POLL_SECONDS)
    return seen
