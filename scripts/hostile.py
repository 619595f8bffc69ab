"""Hostile uploads against a real NocoDB and a real facegate (issue 26), run by ``scripts.faults``:

    uv run python -m scripts.faults --only crowd,inserts

crowd    rounds of crowd pictures (31 x 31 faces of 33 px each) through the public form, each round with
         a genuine upload right behind them: how many of each are decided, and how long the genuine
         uploads wait.
inserts  uploads through the public form, several at a time: NocoDB's insert events then name another
         submission's row for some, and each upload must be decided all the same, long before the
         sweep (300 s here, the default) would find it.

facegate runs with the default sweep interval, so what is decided within the run came from NocoDB's
events and what they prompt.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx

from harness.images import crowd, sample
from harness.loop import FIELDS, OPERATOR_KEY, Loop, list_rows, running_loop
from harness.nocodb import LocalNocoDB
from scripts.realworld import Photo, RunTally, Upload, all_decisions, evaluate, state_of

__all__ = ["SCENARIOS", "crowds", "inserts"]

SWEEP_SECONDS = 300  # facegate's default
POLL_SECONDS = 0.25
CROWD = Photo("obama", "crowd.jpg", "deleted", "multiple_faces")
GENUINE = Photo("obama", "obama2.jpg", "approved", "match")
# Approved photos only: every row the inserts make stays, and its Status says it was decided.
APPROVABLE = (
    GENUINE,
    Photo("obama", "obama3.jpg", "approved", "match"),
    Photo("biden", "biden.jpg", "approved", "match"),
)


def crowds(nocodb: LocalNocoDB, tmp: Path, args: argparse.Namespace) -> bool:
    """A genuine upload alone (the baseline), then ``args.rounds`` rounds of ``args.crowds`` crowd
    pictures, each followed by a genuine upload."""
    picture = crowd()
    with running_loop(nocodb, tmp / "crowd", base_title="faults-crowd", sweep_seconds=SWEEP_SECONDS) as loop:
        submitted: dict[str, float] = {}
        alone = _submit(loop, GENUINE, sample(GENUINE.file), submitted)
        with loop.api(timeout=60) as api:
            decided_alone = _watch([alone], api, loop.setup.table_id, args.drain).get(alone.key)
        baseline = None if decided_alone is None else decided_alone - submitted[alone.key]
        uploads: list[Upload] = []
        for _ in range(args.rounds):
            for _ in range(args.crowds):
                uploads.append(_submit(loop, CROWD, picture, submitted))
            uploads.append(_submit(loop, GENUINE, sample(GENUINE.file), submitted))
        with loop.api(timeout=60) as api:
            decided = _watch(uploads, api, loop.setup.table_id, args.drain)
            tally = evaluate(uploads, list_rows(api, loop.setup.table_id), all_decisions(loop.facegate.url))
    delays = {u.key: decided[u.key] - submitted[u.key] for u in uploads if u.key in decided}
    genuine = [u for u in uploads if u.photo is GENUINE]
    print(
        f"\n== crowd: {args.rounds} rounds of {args.crowds} crowd pictures ({len(picture) // 1024} KiB),"
        " then a genuine upload"
    )
    print(f"   delay of a genuine upload alone: {_seconds([baseline])}")
    for photo, group in (
        ("crowd pictures", [u for u in uploads if u.photo is CROWD]),
        ("genuine uploads", genuine),
    ):
        done = sum(u.key in decided for u in group)
        print(f"   {photo}: decided {done}, undecided {len(group) - done}")
    print(
        "   delay of each genuine upload (submitted to decided):"
        f" {_seconds([delays.get(u.key) for u in genuine])}"
    )
    print(
        "   delay of each crowd picture:"
        f" {_seconds([delays.get(u.key) for u in uploads if u.photo is CROWD])}"
    )
    return _report(tally) and len(decided) == len(uploads)


def inserts(nocodb: LocalNocoDB, tmp: Path, args: argparse.Namespace) -> bool:
    """``args.inserts`` uploads through the form, ``args.at_a_time`` at once."""
    with running_loop(
        nocodb, tmp / "inserts", base_title="faults-inserts", sweep_seconds=SWEEP_SECONDS
    ) as loop:
        photos = [APPROVABLE[i % len(APPROVABLE)] for i in range(args.inserts)]
        with loop.api(timeout=60) as api:
            before = {(r["Id"], r["CreatedAt"]) for r in list_rows(api, loop.setup.table_id).values()}
            started = time.monotonic()
            with ThreadPoolExecutor(args.at_a_time) as pool:
                answers = list(pool.map(lambda p: loop.submit(p.politician, sample(p.file), p.file), photos))
            last_submitted = time.monotonic()
            # The form's answers may name another submission's row: the table says which rows were made.
            seen: dict[tuple[int, str], float] = {}
            deadline = started + args.drain
            while time.monotonic() < deadline:
                rows = [
                    r
                    for r in list_rows(api, loop.setup.table_id).values()
                    if (r["Id"], r["CreatedAt"]) not in before
                ]
                now = time.time()
                seen |= {
                    (r["Id"], r["CreatedAt"]): now
                    for r in rows
                    if r[FIELDS.status] and (r["Id"], r["CreatedAt"]) not in seen
                }
                if len(rows) >= len(photos) and len(seen) >= len(rows):
                    break
                time.sleep(POLL_SECONDS)
            all_seen = time.monotonic()
        sources = _job_sources(loop)
    delays = [seen[key] - _epoch(key[1]) for key in seen]
    print(
        f"\n== inserts: {len(photos)} uploads through the form, {args.at_a_time} at a time,"
        f" sweep every {SWEEP_SECONDS} s"
    )
    print(
        f"   rows made {len(rows)}; the form's answers named {len({a['Id'] for a in answers})} distinct rows"
    )
    print(
        f"   uploads queued first by the insert event naming them {sources['webhook']}, first by the nudge"
        f" listing the newest rows {sources['newest']}, by a sweep {sources['sweep']}"
    )
    print(f"   decided {len(seen)}, undecided {len(rows) - len(seen)}")
    print(f"   delay of each upload (its CreatedAt to decided, 1 s resolution): {_summary(delays)}")
    print(f"   all decided {all_seen - last_submitted:.1f} s after the last submission")
    return len(rows) == len(photos) and len(seen) == len(rows)


def _submit(loop: Loop, photo: Photo, data: bytes, submitted: dict[str, float]) -> Upload:
    """One form submission, one at a time (NocoDB answers concurrent ones with each other's rows)."""
    row = loop.submit(photo.politician, data, photo.file, timeout=60)
    upload = Upload.of(loop.setup.table_id, row, photo)
    submitted[upload.key] = time.monotonic()
    return upload


def _watch(uploads: Sequence[Upload], api: httpx.Client, table_id: str, timeout: float) -> dict[str, float]:
    """When each upload was first seen decided in NocoDB (monotonic), until all are or ``timeout``."""
    decided: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(decided) < len(uploads) and time.monotonic() < deadline:
        rows = list_rows(api, table_id)
        now = time.monotonic()
        decided |= {u.key: now for u in uploads if u.key not in decided and state_of(u, rows) != "pending"}
        time.sleep(POLL_SECONDS)
    return decided


def _job_sources(loop: Loop) -> Counter[str]:
    response = httpx.get(
        f"{loop.facegate.url}/jobs", params={"limit": 500}, headers={"X-API-Key": OPERATOR_KEY}, timeout=30
    )
    return Counter(job["source"] for job in response.raise_for_status().json()["items"])


def _report(tally: RunTally) -> bool:
    for line in tally.lines():
        print(f"   {line}")
    for problem in tally.problems:
        print(f"   PROBLEM {problem}")
    return not tally.problems


def _epoch(created_at: str) -> float:
    return datetime.fromisoformat(created_at.replace("Z", "+00:00")).timestamp()


def _seconds(values: Sequence[float | None]) -> str:
    return "[" + ", ".join("undecided" if v is None else f"{v:.1f}" for v in values) + "] s"


def _summary(values: Sequence[float]) -> str:
    if not values:
        return "none"
    return f"median {statistics.median(values):.1f} s, max {max(values):.1f} s"


SCENARIOS: dict[str, Callable[[LocalNocoDB, Path, argparse.Namespace], bool]] = {
    "crowd": crowds,
    "inserts": inserts,
}
