"""Faults against a real NocoDB and a real facegate, on loopback, each scenario bounded in time.

    uv run python -m scripts.faults [--quick] [--only kill,outage,slow,instances]

kill    facegate is SIGKILLed after ~10 of a burst of uploads are decided, and restarted.
outage  NocoDB is stopped after ~10 are decided, for 60 s (10 s with --quick), then started again.
slow    facegate talks to NocoDB through a proxy adding latency to every request and trickling the answers.
instances  two facegates share a PostgreSQL of their own (harness.postgres), NocoDB's webhook calling
        both; one is SIGKILLed while NocoDB's answer to its write is held back, the other takes its jobs
        over once their lease ends (not in the default --only: it needs PostgreSQL installed).
crowd, inserts  hostile uploads (scripts.hostile): crowd pictures with genuine uploads behind them, and
        uploads several at a time whose insert events name each other's rows (not in the default --only).

Uploads go through NocoDB's public form; its webhook calls facegate directly. In kill, slow and instances,
facegate's NocoDB requests pass through a proxy (one per instance) that counts the writes (DELETE/PATCH of
records) per row Id. Exits 1 if any upload is lost, decided wrongly, decided, acted on or written twice.
"""

from __future__ import annotations

import argparse
import itertools
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

import httpx

from harness.facegate import FacegateServer
from harness.images import sample
from harness.instances import SharedDatabase, carousels_agree, held_at_kill, running_loops, watch_takeover
from harness.loop import Loop, list_rows, running_loop
from harness.nocodb import LocalNocoDB, running_nocodb
from harness.postgres import running_postgres
from harness.proxy import CountingProxy
from scripts.hostile import SCENARIOS as HOSTILE
from scripts.realworld import PHOTOS, Photo, RunTally, Upload, all_decisions, evaluate, state_of, wait_decided

DECIDED_BEFORE_FAULT = 10
DRAIN_TIMEOUT = 240.0
PACE = 0.3  # seconds between form posts in a paced burst
# instances: one face process each (two cores for two instances, NocoDB and PostgreSQL), two jobs in
# flight each, so that A holds more than the write it never hears back about; a short lease.
LEASE_SECONDS = 5
INSTANCE_ENV = {
    "FACEGATE_WORKERS": "1",
    "FACEGATE_QUEUE_CONCURRENCY": "2",
    "FACEGATE_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
}


class Burst:
    """Uploads through the public form, one after the other, optionally paced."""

    def __init__(self, loop: Loop) -> None:
        self.loop = loop
        self.uploads: list[Upload] = []
        self._lock = threading.Lock()

    def submit(self, photo: Photo) -> None:
        row = self.loop.submit(photo.politician, sample(photo.file), photo.file, timeout=60)
        with self._lock:
            self.uploads.append(Upload.of(self.loop.setup.table_id, row, photo))

    def run(self, count: int, pace: float = 0.0) -> None:
        """One upload at a time: NocoDB 0.301 answers concurrent form posts with each other's rows."""
        for photo in itertools.islice(itertools.cycle(PHOTOS), count):
            self.submit(photo)
            time.sleep(pace)

    def snapshot(self) -> list[Upload]:
        with self._lock:
            return list(self.uploads)


def scenario(
    name: str, nocodb: LocalNocoDB, tmp: Path, args: argparse.Namespace, proxy: CountingProxy | None = None
) -> bool:
    """Set up a base and facegate, run the fault, wait for the drain, print the figures."""
    with (
        running_loop(
            nocodb, tmp / name, base_title=f"faults-{name}", facegate_nocodb_url=proxy.url if proxy else None
        ) as loop,
        loop.api(timeout=60) as api,
    ):
        setup, server, burst = loop.setup, loop.facegate, Burst(loop)

        def decided(at_least: int, timeout: float) -> bool:
            return wait_decided(
                burst.snapshot, api, setup.table_id, until=lambda n: n >= at_least, timeout=timeout
            )

        started = recovered = time.monotonic()
        note = ""
        if name == "kill":  # a paced burst: the last uploads arrive while facegate is dead or starting
            submitter = threading.Thread(target=burst.run, args=(args.uploads,), kwargs={"pace": PACE})
            submitter.start()
            decided(DECIDED_BEFORE_FAULT, 120)
            if proxy is not None and args.kill_at != "decided":
                proxy.hold = {args.kill_at}  # the kill lands between NocoDB's write and its answer
                proxy.held.wait(60)
            note = f"SIGKILL ({args.kill_at}) with {_count_decided(burst, api, setup.table_id)} decided, "
            note += f"{len(burst.snapshot())} submitted"
            server.stop(signal.SIGKILL)
            time.sleep(2)
            server.start()
            recovered = time.monotonic()
            submitter.join()
        elif name == "outage":
            burst.run(args.uploads)
            decided(DECIDED_BEFORE_FAULT, 120)
            note = (
                f"NocoDB stopped with {_count_decided(burst, api, setup.table_id)} of {args.uploads} decided"
            )
            nocodb.stop()
            time.sleep(args.outage)
            back = time.monotonic()
            nocodb.start()
            recovered = time.monotonic()
            note += f"; down {args.outage:.0f} s, restart took {time.monotonic() - back:.1f} s"
        else:
            burst.run(args.uploads)
        uploads = burst.snapshot()
        submitted_at = time.monotonic() - started
        drained = decided(len(uploads), DRAIN_TIMEOUT)
        drain = time.monotonic() - started
        tally = evaluate(uploads, list_rows(api, setup.table_id), all_decisions(server.url))
        if len(uploads) != args.uploads:
            tally.problems.append(f"only {len(uploads)} of {args.uploads} uploads were submitted")
    print(f"\n== {name}: {note or f'proxy latency {args.latency} s per request'}")
    for line in tally.lines():
        print(f"   {line}")
    drain_text = f"{drain:.1f} s" if drained else f"NOT drained within {DRAIN_TIMEOUT:.0f} s"
    after_fault = f"{drain - (recovered - started):.1f} s after the fault ended; " if note else ""
    print(
        f"   time to drain {drain_text} from the first upload"
        f" ({after_fault}all submitted after {submitted_at:.1f} s)"
    )
    if proxy is not None:
        _report_writes([proxy], uploads, tally)
    for problem in tally.problems:
        print(f"   PROBLEM {problem}")
    return drained and not tally.problems


def instances(nocodb: LocalNocoDB, tmp: Path, args: argparse.Namespace) -> bool:
    """Two facegates on one PostgreSQL of their own, both called by NocoDB's webhook; A is SIGKILLed
    between NocoDB's write and its answer once ~10 uploads are decided, B takes A's jobs over when
    their lease ends, and A is started again for the carousels to be compared."""
    nocodb_port = int(nocodb.url.rsplit(":", 1)[1])
    hold = args.kill_at if args.kill_at != "decided" else "PATCH"
    problems: list[str] = []
    with (
        running_postgres() as postgres,
        CountingProxy(nocodb_port, latency=0) as proxy_a,
        CountingProxy(nocodb_port, latency=0) as proxy_b,
    ):
        url = postgres.create_database("facegate")
        with (
            running_loops(
                nocodb,
                tmp / "instances",
                base_title="faults-instances",
                database_url=url,
                nocodb_urls=(proxy_a.url, proxy_b.url),
                extra_env=INSTANCE_ENV,
            ) as (a, b),
            SharedDatabase(url) as db,
            a.api(timeout=60) as api,
        ):
            table_id, burst = a.setup.table_id, Burst(a)
            submitter = threading.Thread(target=burst.run, args=(args.uploads,), kwargs={"pace": PACE})
            started = time.monotonic()
            submitter.start()
            wait_decided(
                burst.snapshot, api, table_id, until=lambda n: n >= DECIDED_BEFORE_FAULT, timeout=120
            )
            thumbnails = _thumbnails_by(a.facegate, db, burst.snapshot(), proxy_a)
            if not carousels_agree(a.facegate, b.facegate):
                problems.append("/approved differs between the instances before the kill")
            decided_by_a = a.facegate.metric("facegate_verdicts_total", source="moderation")
            proxy_a.hold = {hold}  # A's next such write: NocoDB does it, A never hears back
            if not proxy_a.held.wait(60):
                problems.append(f"instance A sent no {hold} within 60 s; killed without one held")
            note = f"A SIGKILLed holding a {hold} with {_count_decided(burst, api, table_id)} decided"
            note += f", {len(burst.snapshot())} submitted; lease {LEASE_SECONDS} s"
            a.facegate.stop(signal.SIGKILL)
            killed_at, killed = time.time(), time.monotonic()
            held = held_at_kill(db, proxy_a.held_write[1][0]) if proxy_a.held_write else {}
            takeover = watch_takeover(db, held, killed_at, timeout=LEASE_SECONDS * 3 + 60)
            submitter.join()
            uploads = burst.snapshot()
            submitted_at = time.monotonic() - started
            drained = wait_decided(
                burst.snapshot, api, table_id, until=lambda n: n >= len(uploads), timeout=DRAIN_TIMEOUT
            )
            drain = time.monotonic() - started
            tally = settled(uploads, b, api)
            decisions = db.facegate_decisions()
            decided_by_b = b.facegate.metric("facegate_verdicts_total", source="moderation")
            moved = {
                key: made for key, made in thumbnails.items() if _thumbnail(b.facegate, made[0]) != made[1]
            }
            a.facegate.start()
            if not carousels_agree(a.facegate, b.facegate):
                problems.append("/approved differs between B and A restarted")
    tally.problems += problems
    tally.problems += [
        f"{key}: {n} facegate decisions in the database" for key, n in decisions.items() if n != 1
    ]
    tally.problems += [f"{key}: B serves another thumbnail than A made" for key in moved]
    if not takeover.complete:
        tally.problems.append(
            f"jobs A held never finished: {sorted(set(held) - set(takeover.finished_after))}"
        )
    print(f"\n== instances: {note}")
    for line in tally.lines():
        print(f"   {line}")
    print(f"   decided per instance: A {decided_by_a:.0f} before the kill, B {decided_by_b:.0f}")
    print(
        f"   A held {len(held)} jobs at the kill (rows {sorted(c.row_id for c in held.values())}); their"
        f" leases ran {takeover.lease_left:.1f} s more; B claimed them after"
        f" {_seconds(takeover.claimed_after)} and finished them after {_seconds(takeover.finished_after)}"
    )
    print(f"   thumbnails A made, served alike by B: {len(thumbnails) - len(moved)} of {len(thumbnails)}")
    drain_text = f"{drain:.1f} s" if drained else f"NOT drained within {DRAIN_TIMEOUT:.0f} s"
    print(
        f"   time to drain {drain_text} from the first upload ({drain - (killed - started):.1f} s after"
        f" the kill; all submitted after {submitted_at:.1f} s)"
    )
    _report_writes([proxy_a, proxy_b], uploads, tally)
    for problem in tally.problems:
        print(f"   PROBLEM {problem}")
    return drained and not tally.problems


def settled(uploads: list[Upload], loop: Loop, api: httpx.Client, timeout: float = 30) -> RunTally:
    """The bookkeeping once NocoDB shows every outcome: facegate records its action a moment after
    NocoDB shows it, so problems are looked at again for up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        tally = evaluate(uploads, list_rows(api, loop.setup.table_id), all_decisions(loop.facegate.url))
        if not tally.problems or time.monotonic() > deadline:
            return tally
        time.sleep(0.2)


def _thumbnails_by(
    server: FacegateServer, db: SharedDatabase, uploads: list[Upload], proxy: CountingProxy
) -> dict[str, tuple[int, bytes]]:
    """The thumbnails of the approvals ``server`` has written through ``proxy``, as it serves them."""
    approved = proxy.written_rows("PATCH")
    shown = db.approval_ids()
    return {
        u.key: (shown[u.key], _thumbnail(server, shown[u.key]))
        for u in uploads
        if u.row_id in approved and u.key in shown
    }


def _thumbnail(server: FacegateServer, approval_id: int) -> bytes:
    return httpx.get(f"{server.url}/approved/{approval_id}/thumbnail", timeout=30).raise_for_status().content


def _seconds(values: dict[int, float]) -> str:
    return "[" + ", ".join(f"{v:.2f}" for v in sorted(values.values())) + "] s"


def _report_writes(proxies: list[CountingProxy], uploads: list[Upload], tally: RunTally) -> None:
    """The writes the proxies saw, all instances together; a row written more often than it served
    uploads (NocoDB reuses Ids) is a problem."""
    requests = sum((p.requests for p in proxies), Counter[str]())
    ok_writes = sum((p.successful_writes() for p in proxies), Counter[int]())
    writes = sum(len(p.writes) for p in proxies)
    uploads_per_id = Counter(u.row_id for u in uploads)
    twice = {i: n for i, n in ok_writes.items() if n > uploads_per_id[i]}
    print(
        f"   proxy: requests {dict(requests)}; writes {writes}, succeeded"
        f" {sum(ok_writes.values())}; successful writes per row {dict(Counter(ok_writes.values()))}"
    )
    if reused := {i: n for i, n in uploads_per_id.items() if n > 1}:
        print(f"   row Ids reused by NocoDB (uploads per Id): {reused}")
    tally.problems += [f"row {i}: {n} successful writes" for i, n in sorted(twice.items())]


def _count_decided(burst: Burst, api: httpx.Client, table_id: str) -> int:
    rows = list_rows(api, table_id)
    return sum(state_of(u, rows) != "pending" for u in burst.snapshot())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.faults", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a 10 s NocoDB outage instead of 60 s")
    parser.add_argument("--outage", type=float, help="seconds NocoDB stays down (default 60, quick 10)")
    parser.add_argument(
        "--only", default="kill,outage,slow", help="comma-separated scenarios (also: instances)"
    )
    parser.add_argument("--uploads", type=int, default=30, help="uploads per burst")
    parser.add_argument("--latency", type=float, default=2.0, help="proxy delay per request (slow)")
    parser.add_argument("--rounds", type=int, default=3, help="crowd: rounds of crowd pictures")
    parser.add_argument("--crowds", type=int, default=2, help="crowd: crowd pictures per round")
    parser.add_argument("--inserts", type=int, default=40, help="inserts: uploads through the form")
    parser.add_argument("--at-a-time", type=int, default=4, help="inserts: form submissions at once")
    parser.add_argument(
        "--drain", type=float, default=DRAIN_TIMEOUT, help="crowd, inserts: seconds allowed to decide"
    )
    parser.add_argument(
        "--kill-at",
        choices=("decided", "PATCH", "DELETE"),
        default="decided",
        help="kill: once ~10 are decided, or when NocoDB has done the next PATCH/DELETE but not answered;"
        " instances: always while a write is held (PATCH unless DELETE is given)",
    )
    args = parser.parse_args(argv)
    if unknown := set(args.only.split(",")) - {"kill", "outage", "slow", "instances", *HOSTILE}:
        parser.error(f"unknown scenarios {sorted(unknown)}")
    args.outage = args.outage if args.outage is not None else 10.0 if args.quick else 60.0
    results: dict[str, bool] = {}
    with (
        tempfile.TemporaryDirectory(prefix="facegate-faults-") as tmp,
        running_nocodb(Path(tmp) / "nocodb") as nocodb,
    ):
        for name in args.only.split(","):
            try:
                if name in HOSTILE:
                    results[name] = HOSTILE[name](nocodb, Path(tmp), args)
                elif name == "outage":
                    results[name] = scenario(name, nocodb, Path(tmp), args)
                elif name == "instances":
                    results[name] = instances(nocodb, Path(tmp), args)
                else:
                    latency = args.latency if name == "slow" else 0.0
                    nocodb_port = int(nocodb.url.rsplit(":", 1)[1])
                    with CountingProxy(nocodb_port, latency=latency) as proxy:
                        results[name] = scenario(name, nocodb, Path(tmp), args, proxy)
            except Exception:
                traceback.print_exc()
                results[name] = False
                if not nocodb.is_running():
                    nocodb.start()
    print("\n" + "  ".join(f"{name}: {'ok' if ok else 'FAILED'}" for name, ok in results.items()))
    return 0 if results and all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
