"""facegate loses its database: the decision log and the carousel are rebuilt from the stamps NocoDB
keeps, with the real face workers and a fake NocoDB. Rows with a valid stamp are not decided again;
rows without one are, whatever their Status says."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import RejectAction
from app.faces.renditions import Rendition
from app.metrics import REGISTRY
from app.moderation.decide import RowVerdict
from app.moderation.rows import UploadRow, parse_row, row_key
from app.moderation.service import ModerationService
from app.moderation.stamps import StampKey
from app.moderation.sweep import Sweeper
from app.outcomes import Action
from app.verification import FaceService
from harness.images import sample
from harness.loop import FIELDS
from tests.utils.fake_nocodb import TABLE, FakeNocoDB, location
from tests.utils.moderation import moderation_service, queued_job
from tests.utils.stores import Stores, fresh_stores

KEY = StampKey("the-campaign-facegate-secret")


@pytest.fixture
def second(tmp_path: Path) -> Iterator[Stores]:
    """An empty database: the first one was lost, or this is a second server."""
    with fresh_stores(tmp_path / "second.db") as stores:
        yield stores


def _service(
    fake: FakeNocoDB,
    stores: Stores,
    faces: FaceService,
    key: StampKey | None = KEY,
    action: RejectAction = RejectAction.DELETE,
) -> ModerationService:
    return moderation_service(httpx.MockTransport(fake.handler), stores, faces, on_reject=action, stamps=key)


def _decide(service: ModerationService, stores: Stores, row: dict[str, Any]) -> Action:
    job = queued_job(stores.queue, row)
    action = asyncio.run(service.process(job))
    stores.queue.finish(job, row_gone=action.row_left)
    return action


def _rebuild(service: ModerationService, stores: Stores) -> dict[int, Action]:
    """What facegate does at start on an empty database: the sweep queues every row, the runner
    processes each job. Returns the action per row."""
    uploads = service.lifecycle
    sweeper = Sweeper(
        queue=stores.queue,
        decisions=stores.decisions,
        nocodb=service.writer.nocodb,
        table_id=TABLE,
        fields=FIELDS,
        carousel=uploads.carousel,
        lifecycle=uploads,
        wake=asyncio.Event(),
    )
    asyncio.run(sweeper.sweep())
    actions = {}
    for job in stores.queue.claim(100):
        actions[job.row_id] = asyncio.run(service.process(job))
        stores.queue.finish(job, row_gone=actions[job.row_id].row_left)
    return actions


def _log(stores: Stores) -> dict[int, list[tuple[str, str, str, str | None, bool]]]:
    """Each row's decisions, oldest first: source, decision, reason, action, restored."""
    log: dict[int, list[tuple[str, str, str, str | None, bool]]] = {}
    for d in reversed(stores.decisions.decisions()):
        log.setdefault(d.row_id, []).append((d.source, d.decision, d.reason, d.action, d.restored))
    return log


async def _never_decided_again(row: UploadRow, table_id: str) -> RowVerdict:
    raise AssertionError(f"row {row.row_id} was decided again")


def _shown(stores: Stores) -> dict[int, str]:
    return {a.row_id: a.politician for a in stores.approvals.approvals()}


def _downloads(fake: FakeNocoDB) -> int:
    return sum(path.startswith("/download/") for _, path in fake.calls)


def test_the_status_and_its_stamp_are_one_write(faces: FaceService, stores: Stores) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    service = _service(fake, stores, faces)
    assert _decide(service, stores, row) == "approved"
    assert [method for method, _ in fake.actions()] == ["PATCH"]
    stamp = KEY.verify(fake.rows[1][FIELDS.stamp], row_key(TABLE, parse_row(row, FIELDS)))
    assert stamp is not None and (stamp.decision, stamp.reason, stamp.politician) == (
        "approved",
        "match",
        "obama",
    )
    (decision,) = stores.decisions.decisions()
    assert stamp.decided_at == int(decision.decided_at) and not decision.restored


def test_without_a_secret_no_stamp_is_written_or_read(
    faces: FaceService, stores: Stores, second: Stores
) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    assert _decide(_service(fake, stores, faces, key=None), stores, row) == "approved"
    assert FIELDS.stamp not in fake.rows[1] and fake.rows[1][FIELDS.status] == "approved"
    # Nothing in NocoDB says facegate decided it: a new database decides it again.
    assert _rebuild(_service(fake, second, faces, key=None), second) == {1: "approved"}
    assert _log(second)[1] == [("facegate", "approved", "match", "approved", False)]


def test_a_lost_database_is_rebuilt_from_the_stamps(
    faces: FaceService, stores: Stores, second: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    # obama2.jpg is 0.38 from obama's references: a band of 0.35 around his tolerance (about 0.67)
    # sends it to review.
    # biden.jpg is Biden's reference itself (approved as biden); the cat has no face (deleted).
    monkeypatch.setitem(faces.references.review_bands, "obama", 0.35)
    fake = FakeNocoDB()
    rows = {
        1: fake.add(1, "biden", ("a.jpg", sample("biden.jpg"))),
        2: fake.add(2, "obama", ("b.jpg", sample("obama2.jpg"))),
        3: fake.add(3, "obama", ("c.jpg", sample("obama2.jpg"))),
        4: fake.add(4, "obama", ("d.png", sample("cat.png"))),
        5: fake.add(5, "obama", ("e.jpg", sample("obama2.jpg"))),
    }
    first = _service(fake, stores, faces)
    assert {n: _decide(first, stores, row) for n, row in rows.items()} == {
        1: "approved",
        2: "review",
        3: "review",
        4: "deleted",
        5: "review",
    }
    fake.rows[3][FIELDS.status] = "approved"  # moderators, in NocoDB's grid, before or after the loss
    fake.rows[5][FIELDS.status] = "rejected"
    writes, downloads = len(fake.actions()), _downloads(fake)
    before = {d.row_id: d.decided_at for d in stores.decisions.decisions()}

    service = _service(fake, second, faces)
    monkeypatch.setattr(service.decider, "decide", _never_decided_again)
    assert _rebuild(service, second) == {1: "approved", 2: "review", 3: "approved", 5: "deleted"}
    assert _log(second) == {
        1: [("facegate", "approved", "match", "approved", True)],
        2: [("facegate", "review", "near_tolerance", "review", True)],
        3: [
            ("facegate", "review", "near_tolerance", "review", True),
            ("moderator", "approved", "moderator", "approved", False),
        ],
        5: [
            ("facegate", "review", "near_tolerance", "review", True),
            ("moderator", "rejected", "moderator", "deleted", False),
        ],
    }
    # Nothing written but the moderator's rejection, which deletes the row as it always does; the
    # pictures were read only for the carousel's renditions.
    # Nothing facegate decided is written again: the moderator's approval gains its line in the note.
    assert [method for method, _ in fake.actions()[writes:]] == ["PATCH", "DELETE"] and 5 not in fake.rows
    assert fake.rows[3]["Facegate"].splitlines()[-1].startswith("Approved by a moderator at ")
    assert _downloads(fake) - downloads == 2
    assert {d.row_id: int(d.decided_at) for d in second.decisions.decisions() if d.restored} == {
        n: int(before[n]) for n in (1, 2, 3, 5)
    }
    # The carousel again: facegate's approval, and the moderator's, with their renditions made.
    assert _shown(second) == {1: "biden", 3: "obama"}
    for approval in second.approvals.approvals():
        made = second.approvals.rendition(approval.id, Rendition.THUMBNAIL)
        assert made is not None and made[:2] == b"\xff\xd8"
    # Settled: the next sweep queues nothing, and no row is ever decided twice.
    assert _rebuild(service, second) == {}
    assert len(second.decisions.decisions()) == 6
    # The restored uploads' files are claimed again: erased once their rows leave NocoDB.
    for n, name in ((1, "a.jpg"), (2, "b.jpg"), (3, "c.jpg")):
        key = row_key(TABLE, parse_row(rows[n], FIELDS))
        assert list(second.claims.owned(key, [location(n, name)])) == [location(n, name)]


def test_a_flagged_rejection_is_restored(faces: FaceService, stores: Stores, second: Stores) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", sample("biden.jpg")))
    assert _decide(_service(fake, stores, faces, action=RejectAction.FLAG), stores, row) == "flagged"
    writes = len(fake.actions())
    assert _rebuild(_service(fake, second, faces, action=RejectAction.FLAG), second) == {1: "flagged"}
    assert _log(second) == {1: [("facegate", "rejected", "no_match", "flagged", True)]}
    assert len(fake.actions()) == writes and _shown(second) == {}


def _key(row: dict[str, Any]) -> str:
    return row_key(TABLE, parse_row(row, FIELDS))


def _ignored() -> float:
    return REGISTRY.get_sample_value("facegate_stamps_total", {"result": "ignored"}) or 0.0


FORGERIES = ("copied from another row", "its key edited to this row's", "signed with another secret", "typed")


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_stamp_that_does_not_verify_counts_as_none(
    faces: FaceService, stores: Stores, second: Stores, forgery: str
) -> None:
    fake = FakeNocoDB()
    genuine = fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    assert _decide(_service(fake, stores, faces), stores, genuine) == "approved"
    copied = fake.rows[1][FIELDS.stamp]
    # Biden's picture claimed as obama, passed off as approved (an editor, or a form showing both).
    row = fake.add(2, "obama", ("b.jpg", sample("biden.jpg")))
    stamp = KEY.verify(copied, _key(genuine))
    assert stamp is not None
    row[FIELDS.status] = "approved"
    row[FIELDS.stamp] = {
        "copied from another row": copied,
        "its key edited to this row's": copied.replace(_key(genuine), _key(row)),
        "signed with another secret": StampKey("not-the-campaign-secret").sign(
            replace(stamp, row_key=_key(row))
        ),
        "typed": f"fg1.approved.match.obama.{stamp.decided_at}.{_key(row)}.{'A' * 43}",
    }[forgery]
    ignored = _ignored()
    assert _rebuild(_service(fake, second, faces), second) == {1: "approved", 2: "deleted"}
    assert _log(second)[2] == [("facegate", "rejected", "no_match", "deleted", False)]
    assert _ignored() == ignored + 1 and _shown(second) == {1: "obama"}


def test_a_stamp_left_on_a_changed_picture_counts_as_none(
    faces: FaceService, stores: Stores, second: Stores
) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    assert _decide(_service(fake, stores, faces), stores, row) == "approved"
    kept = {name: fake.rows[1][name] for name in (FIELDS.status, FIELDS.stamp)}
    fake.add(1, "obama", ("b.jpg", sample("biden.jpg"))).update(kept)  # the picture swapped in the grid
    assert _rebuild(_service(fake, second, faces), second) == {1: "deleted"}
    assert _log(second) == {1: [("facegate", "rejected", "no_match", "deleted", False)]}
