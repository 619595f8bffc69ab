"""Deciding and acting on one row, with the real face workers and a fake NocoDB."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from PIL import Image

from app.config import RejectAction
from app.faces.pool import Analysis
from app.faces.renditions import Rendition
from app.integrations.nocodb.errors import NocoDBUnavailable
from app.logs import JsonFormatter
from app.metrics import REVIEW_WAIT_SECONDS, REVIEWS_SETTLED, VERDICTS
from app.moderation.holds import Deferred
from app.moderation.links import ReviewLinks
from app.moderation.queue import Job, JobQueue, LeaseLost
from app.moderation.service import ModerationService
from app.moderation.stamps import StampKey
from app.tables import decisions, jobs
from app.verification import FaceService
from harness.images import demo_rule, png_declaring, sample, side_by_side
from tests.utils.clock import Clock
from tests.utils.fake_nocodb import BASE, FakeNocoDB
from tests.utils.moderation import MAX_IMAGES, moderation_service, queued_job
from tests.utils.stores import Stores

IN_REVIEW_BAND = 0.35  # wide enough to take obama2.jpg (about 0.38 from obama) in


def _service(
    fake: FakeNocoDB, stores: Stores, faces: FaceService, action: RejectAction = RejectAction.DELETE
) -> ModerationService:
    return moderation_service(httpx.MockTransport(fake.handler), stores, faces, on_reject=action)


def _job(stores: Stores, row: dict[str, object]) -> Job:
    return queued_job(stores.queue, row)


def _run(service: ModerationService, job: Job) -> str:
    return asyncio.run(service.process(job))


def test_matching_upload_is_approved(faces: FaceService, stores: Stores) -> None:
    fake = FakeNocoDB()
    job = _job(stores, fake.add(1, "obama", ("a.jpg", sample("obama2.jpg"))))
    assert _run(_service(fake, stores, faces), job) == "approved"
    assert fake.rows[1]["Status"] == "approved"
    (decision,) = stores.decisions.decisions()
    assert (decision.decision, decision.reason, decision.action) == ("approved", "match", "approved")
    assert decision.distances[0]["obama"] < 0.6


def test_the_carousel_shows_the_bytes_that_were_verified(faces: FaceService, stores: Stores) -> None:
    fake = FakeNocoDB()
    job = _job(stores, fake.add(1, "obama", ("a.jpg", sample("obama2.jpg"))))
    service = _service(fake, stores, faces)
    assert _run(service, job) == "approved"
    # Swapped in NocoDB after the decision, or no longer reachable: the renditions are already made.
    fake.files = {path: sample("cat.png") for path in fake.files}
    (approval,) = stores.approvals.approvals()
    thumbnail = asyncio.run(service.carousel.image(approval.id, Rendition.THUMBNAIL))
    fake.files.clear()
    assert asyncio.run(service.carousel.image(approval.id, Rendition.THUMBNAIL)) == thumbnail
    with Image.open(io.BytesIO(thumbnail)) as shown, Image.open(io.BytesIO(sample("obama2.jpg"))) as verified:
        assert shown.width / shown.height == pytest.approx(verified.width / verified.height, abs=0.01)


@pytest.mark.parametrize(("cell", "decision"), [("Barack Obama", "approved"), ("joe biden", "rejected")])
def test_a_row_naming_a_display_name_is_decided_against_its_slug(
    faces: FaceService, stores: Stores, cell: str, decision: str
) -> None:
    fake = FakeNocoDB()
    job = _job(stores, fake.add(1, cell, ("a.jpg", sample("obama2.jpg"))))
    _run(_service(fake, stores, faces), job)
    (decided,) = stores.decisions.decisions()
    assert (decided.decision, decided.politician) == (
        decision,
        "obama" if decision == "approved" else "biden",
    )


def test_a_row_naming_nobody_known_is_rejected_with_its_text_cut_short(
    faces: FaceService, stores: Stores
) -> None:
    # A text an uploader typed is logged only in the detail, cut short: never whole, never as a slug.
    fake = FakeNocoDB()
    job = _job(stores, fake.add(1, "Barack" + "x" * 10_000, ("a.jpg", sample("obama2.jpg"))))
    assert _run(_service(fake, stores, faces), job) == "deleted"
    (decided,) = stores.decisions.decisions()
    assert (decided.reason, decided.politician) == ("unknown_politician", None)
    assert "'Barackxxx" in (decided.detail or "") and len(decided.detail or "") < 200


@pytest.mark.parametrize(
    ("action", "expected_action", "row_left"),
    [
        (RejectAction.DELETE, "deleted", False),
        (RejectAction.FLAG, "flagged", True),
        (RejectAction.DRY_RUN, "none (dry-run)", True),
    ],
)
def test_rejection_follows_the_action_setting(
    faces: FaceService, stores: Stores, action: RejectAction, expected_action: str, row_left: bool
) -> None:
    fake = FakeNocoDB()
    job = _job(stores, fake.add(1, "obama", ("a.png", sample("cat.png"))))
    assert _run(_service(fake, stores, faces, action), job) == expected_action
    assert (1 in fake.rows) is row_left
    if action is RejectAction.FLAG:
        assert fake.rows[1]["Status"] == "rejected: no_face"
    if action is RejectAction.DRY_RUN:
        assert fake.actions() == [] and fake.rows[1]["Status"] is None


def test_every_image_must_pass(faces: FaceService, stores: Stores) -> None:
    fake = FakeNocoDB()
    row = fake.add(
        1, "obama", ("a.jpg", sample("obama2.jpg")), ("b.jpg", side_by_side("obama2.jpg", "biden.jpg"))
    )
    assert _run(_service(fake, stores, faces), _job(stores, row)) == "deleted"
    assert stores.decisions.decisions()[0].reason == "multiple_faces"


def test_row_without_image(faces: FaceService, stores: Stores) -> None:
    fake = FakeNocoDB()
    assert _run(_service(fake, stores, faces), _job(stores, fake.add(1, "obama"))) == "deleted"
    assert stores.decisions.decisions()[0].reason == "no_image"


def test_unknown_politician(faces: FaceService, stores: Stores) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "nobody", ("a.jpg", sample("obama2.jpg")))
    assert _run(_service(fake, stores, faces), _job(stores, row)) == "deleted"
    assert stores.decisions.decisions()[0].reason == "unknown_politician"


def test_attachment_on_a_foreign_host_is_not_fetched(faces: FaceService, stores: Stores) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama")
    row["Image"] = [{"id": "x", "url": "http://169.254.169.254/latest/meta-data"}]
    assert _run(_service(fake, stores, faces), _job(stores, row)) == "deleted"
    (decision,) = stores.decisions.decisions()
    assert decision.reason == "unreadable_image" and "not allowed" in (decision.detail or "")
    assert not any("169.254" in p for _, p in fake.calls)


def test_a_new_row_with_a_reused_id_is_left_alone(faces: FaceService, stores: Stores) -> None:
    fake = FakeNocoDB()
    job = _job(stores, fake.add(1, "obama", ("a.jpg", sample("biden.jpg"))))
    fake.add(1, "obama", ("other.jpg", sample("obama2.jpg")))  # deleted meanwhile, Id reused
    assert _run(_service(fake, stores, faces), job) == "already_gone"
    assert fake.actions() == [] and 1 in fake.rows


def test_replay_after_the_action_does_nothing_more(faces: FaceService, stores: Stores) -> None:
    fake = FakeNocoDB()
    service = _service(fake, stores, faces)
    job = _job(stores, fake.add(1, "obama", ("a.jpg", sample("biden.jpg"))))
    assert _run(service, job) == "deleted"
    calls = len(fake.calls)
    assert _run(service, job) == "deleted"
    assert len(fake.calls) == calls


def test_nocodb_down_while_acting_keeps_the_verdict_and_acts_once_later(
    faces: FaceService, stores: Stores
) -> None:
    fake = FakeNocoDB()
    service = _service(fake, stores, faces)
    job = _job(stores, fake.add(1, "obama", ("a.jpg", sample("obama2.jpg"))))
    fake.fail_writes_with = 503
    with pytest.raises(NocoDBUnavailable):
        _run(service, job)
    (decision,) = stores.decisions.decisions()
    assert decision.action is None and decision.decision == "approved"
    fake.fail_writes_with = None
    downloads = sum(p.startswith("/download/") for _, p in fake.calls)
    assert _run(service, job) == "approved"
    assert sum(p.startswith("/download/") for _, p in fake.calls) == downloads  # not decided again
    assert [m for m, _ in fake.actions()] == ["PATCH", "PATCH"]  # the refused write, then the one
    assert fake.rows[1]["Status"] == "approved"


def test_expired_link_is_refreshed_from_the_row(faces: FaceService, stores: Stores) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    stale = {**row, "Image": [{**row["Image"][0], "path": "download/expired/a.jpg"}]}
    assert _run(_service(fake, stores, faces), _job(stores, stale)) == "approved"


def test_a_proved_file_nocodb_does_not_serve_is_waited_out_not_a_rejection(
    faces: FaceService, stores: Stores
) -> None:
    # The file was proved in NocoDB's storage (this fake's provenance: every file is), so a 404 for
    # every copy, also after reading the row again, is NocoDB's or a proxy's fault: never a deletion.
    # (A forged location whose file the storage lacks is foreign, rejected before any download:
    # tests/erasure/test_provenance.py.)
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    files, fake.files = fake.files, {}
    job = _job(stores, row)
    with pytest.raises(NocoDBUnavailable) as info:
        _run(_service(fake, stores, faces), job)
    assert "does not serve it (404)" in info.value.message
    assert fake.actions() == [] and stores.decisions.decisions() == []
    fake.files = files
    assert _run(_service(fake, stores, faces), job) == "approved"


def test_storage_refusing_facegate_is_waited_out_not_a_verdict(faces: FaceService, stores: Stores) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    files, fake.files = fake.files, {}
    fake.file_status = 403  # a private bucket, a revoked key: facegate's problem, not the upload's
    job = _job(stores, row)
    with pytest.raises(NocoDBUnavailable):
        _run(_service(fake, stores, faces), job)
    assert fake.actions() == [] and stores.decisions.decisions() == []
    fake.files, fake.file_status = files, None
    assert _run(_service(fake, stores, faces), job) == "approved"


def test_a_row_deleted_before_the_decision_is_left_alone(faces: FaceService, stores: Stores) -> None:
    fake = FakeNocoDB()
    job = _job(stores, fake.add(1, "obama", ("a.jpg", sample("biden.jpg"))))
    fake.rows.clear()
    fake.files.clear()
    assert _run(_service(fake, stores, faces), job) == "already_gone"
    assert stores.decisions.decisions()[0].reason == "row_gone" and fake.actions() == []


def test_file_names_with_url_characters_are_fetched(faces: FaceService, stores: Stores) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a b?x=1#y.jpg", sample("obama2.jpg")))
    assert _run(_service(fake, stores, faces), _job(stores, row)) == "approved"


def test_without_a_claim_every_image_must_show_the_same_politician(
    faces: FaceService, stores: Stores
) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, None, ("a.jpg", sample("obama2.jpg")), ("b.jpg", sample("biden.jpg")))
    assert _run(_service(fake, stores, faces), _job(stores, row)) == "deleted"
    assert stores.decisions.decisions()[0].reason == "no_match"
    same = fake.add(2, None, ("a.jpg", sample("obama2.jpg")), ("b.jpg", sample("obama3.jpg")))
    assert _run(_service(fake, stores, faces), _job(stores, same)) == "approved"
    assert stores.decisions.decisions(row_id=2)[0].politician == "obama"


def test_a_replay_after_nocodb_applied_the_status_writes_nothing(faces: FaceService, stores: Stores) -> None:
    # facegate was killed after NocoDB applied the PATCH and before facegate recorded it.
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    job = _job(stores, row)
    service = _service(fake, stores, faces)
    assert _run(service, job) == "approved" and len(fake.actions()) == 1
    with stores.db.tx() as conn:  # the action was not recorded
        conn.execute(sa.update(decisions).values(action=None, acted_at=None))
    assert _run(service, job) == "approved"
    assert len(fake.actions()) == 1  # Status, stamp and note are there already


def test_a_forged_webhook_copy_of_a_row_is_not_what_is_decided(faces: FaceService, stores: Stores) -> None:
    # A forged event keeps the cat row's Id, CreatedAt and attachment id but names an approved file.
    fake = FakeNocoDB()
    approved = fake.add(2, "obama", ("obama.jpg", sample("obama2.jpg")))
    cat = fake.add(1, "obama", ("cat.png", sample("cat.png")))
    forged = {**cat, "Image": [{**cat["Image"][0], "path": approved["Image"][0]["path"]}]}
    assert _run(_service(fake, stores, faces), _job(stores, forged)) == "deleted"
    (decision,) = stores.decisions.decisions()
    assert decision.reason == "no_face" and stores.approvals.approvals() == []


def test_more_images_than_a_row_may_have_is_a_rejection(faces: FaceService, stores: Stores) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", *[(f"{i}.jpg", sample("obama2.jpg")) for i in range(MAX_IMAGES + 1)])
    assert _run(_service(fake, stores, faces), _job(stores, row)) == "deleted"
    assert stores.decisions.decisions()[0].reason == "too_many_images"
    assert not any(p.startswith("/download/") for _, p in fake.calls)  # not one picture looked at


def test_more_pixels_than_a_row_may_have_is_a_rejection(faces: FaceService, stores: Stores) -> None:
    fake = FakeNocoDB()
    huge = png_declaring(7000, 7100)  # under the limit alone, over it with the first picture
    row = fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")), ("b.png", huge))
    assert _run(_service(fake, stores, faces), _job(stores, row)) == "deleted"
    (decision,) = stores.decisions.decisions()
    assert decision.reason == "too_many_images" and "pixels" in (decision.detail or "")


def test_a_picture_the_carousel_cannot_render_is_not_approved(
    faces: FaceService, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", sample("obama2.jpg")))
    service = _service(fake, stores, faces)
    analyse = faces.pool.analyse

    async def unrenderable(data: bytes, *, renditions: bool) -> Analysis:
        found = await analyse(data, renditions=renditions)  # Pillow refused to render, in the worker
        return Analysis(found.faces, unrenderable="The image cannot be rendered: a test's refusal.")

    monkeypatch.setattr(faces.pool, "analyse", unrenderable)
    assert _run(service, _job(stores, row)) == "deleted"
    assert stores.decisions.decisions()[0].reason == "unreadable_image"
    assert stores.approvals.approvals() == []


def _recheck(stores: Stores, job: Job, action: str) -> Job:
    """The job finishes as the runner would, then a webhook or the sweep queues it again."""
    stores.queue.finish(job, row_gone=action in ("deleted", "already_gone"))
    assert stores.queue.recheck([job.row_key]) == 1
    (again,) = stores.queue.claim(1)
    return again


def test_a_face_near_the_tolerance_waits_for_a_moderator(
    faces: FaceService, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    # obama2.jpg is about 0.38 from obama's references, about 0.3 below his tolerance: a band this
    # wide takes it in.
    monkeypatch.setitem(faces.references.review_bands, "obama", IN_REVIEW_BAND)
    fake = FakeNocoDB()
    job = _job(stores, fake.add(1, "obama", ("a.jpg", sample("obama2.jpg"))))
    service = _service(fake, stores, faces)
    assert _run(service, job) == "review"
    assert fake.rows[1]["Status"] == "review"
    (decision,) = stores.decisions.decisions()
    assert (decision.decision, decision.reason, decision.source) == ("review", "near_tolerance", "facegate")
    assert stores.approvals.approvals() == []
    # Nothing changed in NocoDB (facegate's own Status write fired the update event): nothing happens.
    assert _run(service, job := _recheck(stores, job, "review")) == "review"
    assert len(stores.decisions.decisions()) == 1

    fake.rows[1]["Status"] = "approved"  # a moderator, in NocoDB's grid
    assert _run(service, job := _recheck(stores, job, "review")) == "approved"
    moderator, facegate = stores.decisions.decisions()
    assert (moderator.decision, moderator.reason, moderator.source, moderator.action) == (
        "approved",
        "moderator",
        "moderator",
        "approved",
    )
    assert (facegate.decision, facegate.action) == ("review", "review")
    (approval,) = stores.approvals.approvals()
    assert asyncio.run(service.carousel.image(approval.id, Rendition.THUMBNAIL))[:2] == b"\xff\xd8"
    assert fake.rows[1]["Status"] == "approved"  # facegate never overrides a moderator


def test_a_moderator_rejects_an_approved_upload(faces: FaceService, stores: Stores) -> None:
    fake = FakeNocoDB()
    job = _job(stores, fake.add(1, "obama", ("a.jpg", sample("obama2.jpg"))))
    service = _service(fake, stores, faces)
    assert _run(service, job) == "approved" and len(stores.approvals.approvals()) == 1
    fake.rows[1]["Status"] = " Rejected "
    assert _run(service, job := _recheck(stores, job, "approved")) == "deleted"
    assert 1 not in fake.rows and stores.approvals.approvals() == []
    assert [(d.source, d.decision, d.action) for d in stores.decisions.decisions()] == [
        ("moderator", "rejected", "deleted"),
        ("facegate", "approved", "approved"),
    ]
    assert stores.purges.for_row(job.row_key) is not None


def _decision_fields(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    """The decision fields of the moderation service's JSON log lines."""
    lines = [
        json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "app.moderation.service"
    ]
    fields = ("row", "politician", "decision", "reason", "action", "source")
    return [{k: line.get(k) for k in fields} for line in lines]


def test_a_decision_is_fields_of_its_log_line(
    faces: FaceService, stores: Stores, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeNocoDB()
    job = _job(stores, fake.add(1, "obama", ("a.jpg", sample("obama2.jpg"))))
    service = _service(fake, stores, faces)
    with caplog.at_level(logging.INFO, logger="app.moderation.service"):
        assert _run(service, job) == "approved"
        fake.rows[1]["Status"] = "rejected"  # a moderator, in NocoDB's grid
        assert _run(service, _recheck(stores, job, "approved")) == "deleted"
    assert _decision_fields(caplog) == [
        {
            "row": 1,
            "politician": "obama",
            "decision": "approved",
            "reason": "match",
            "action": "approved",
            "source": "facegate",
        },
        {
            "row": 1,
            "politician": "obama",
            "decision": "rejected",
            "reason": "moderator",
            "action": "deleted",
            "source": "moderator",
        },
    ]


def test_a_moderator_approves_a_flagged_rejection(faces: FaceService, stores: Stores) -> None:
    fake = FakeNocoDB()
    job = _job(stores, fake.add(1, "obama", ("a.jpg", sample("biden.jpg"))))
    service = _service(fake, stores, faces, RejectAction.FLAG)
    assert _run(service, job) == "flagged"
    fake.rows[1]["Status"] = "rejected"  # the moderator agrees: nothing more to do
    assert _run(service, job := _recheck(stores, job, "flagged")) == "flagged"
    fake.rows[1]["Status"] = "approved"  # or not: the moderator's word is final
    assert _run(service, job := _recheck(stores, job, "flagged")) == "approved"
    assert len(stores.approvals.approvals()) == 1


def test_a_recheck_of_a_row_that_is_another_upload_now_changes_nothing(
    faces: FaceService, stores: Stores
) -> None:
    fake = FakeNocoDB()
    job = _job(stores, fake.add(1, "obama", ("a.jpg", sample("obama2.jpg"))))
    service = _service(fake, stores, faces)
    assert _run(service, job) == "approved"
    fake.add(1, "obama", ("b.png", sample("cat.png")))["Status"] = "rejected"  # same Id, new upload
    assert _run(service, job := _recheck(stores, job, "approved")) == "already_gone"
    assert len(stores.approvals.approvals()) == 1 and len(stores.decisions.decisions()) == 1


@pytest.mark.parametrize(("photo", "outcome"), [("obama2.jpg", "approved"), ("biden.jpg", "deleted")])
def test_a_job_taken_over_by_another_instance_writes_nothing(
    faces: FaceService, stores: Stores, photo: str, outcome: str
) -> None:
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", sample(photo)))
    service = _service(fake, stores, faces)
    mine = _job(stores, row)
    with stores.db.tx() as conn:  # this instance stalled past its lease ...
        conn.execute(sa.update(jobs).values(lease_until=0.0))
    (theirs,) = JobQueue(stores.db).claim(1)  # ... and another claimed the job
    with pytest.raises(LeaseLost):
        _run(service, mine)
    assert fake.actions() == [] and stores.approvals.approvals() == []
    assert _run(service, theirs) == outcome  # the other instance acts, on the same logged verdict
    assert len(fake.actions()) == 1 and len(stores.decisions.decisions()) == 1


GRACE = 600.0


def _in_review(
    fake: FakeNocoDB, stores: Stores, faces: FaceService, monkeypatch: pytest.MonkeyPatch, **kwargs: Any
) -> tuple[ModerationService, Job]:
    """obama2.jpg (about 0.38 from obama, tolerance near 0.67) in a band wide enough to take it in."""
    monkeypatch.setitem(faces.references.review_bands, "obama", IN_REVIEW_BAND)
    job = _job(stores, fake.add(1, "obama", ("a.jpg", sample("obama2.jpg"))))
    service = moderation_service(httpx.MockTransport(fake.handler), stores, faces, **kwargs)
    assert _run(service, job) == "review"
    return service, job


def _deferred(service: ModerationService, stores: Stores, job: Job) -> tuple[Job, Deferred]:
    """The job runs and is deferred, as the runner keeps it; returns it as claimed again at once (an
    update event brought it forward) and what deferred it."""
    with pytest.raises(Deferred) as deferred:
        _run(service, job)
    assert stores.queue.defer(job, deferred.value.until, deferred.value.detail)
    assert stores.queue.recheck([job.row_key]) == 1
    (again,) = stores.queue.claim(1)
    return again, deferred.value


def test_a_row_in_review_carries_a_note_with_the_numbers_written_with_its_status(
    faces: FaceService, stores: Stores, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    fake = FakeNocoDB()
    links = ReviewLinks("s" * 32, "https://facegate.example", ttl=86400)
    _in_review(fake, stores, faces, monkeypatch, links=links, stamps=StampKey("s" * 32))
    ((method, _),) = fake.actions()  # Status, stamp and note: one PATCH
    first, link = fake.rows[1]["Facegate"].splitlines()
    distance = stores.decisions.decisions()[0].distances[0]["obama"]
    assert first.startswith("Waits for a moderator: one face, within the review band of Barack Obama's")
    tolerance, _ = demo_rule("obama")  # the band is _in_review's
    low, high = tolerance - IN_REVIEW_BAND, tolerance + IN_REVIEW_BAND
    assert f"Distance {distance:.3f} (approved at {low:.3f} or less, deleted above {high:.3f})." in first
    assert link.startswith("Reference photos and distances: https://facegate.example/review/")
    assert links.verify(link.split()[4].rsplit("/", 1)[1], now=clock.now).row_id == 1
    assert method == "PATCH" and fake.rows[1]["Status"] == "review" and fake.rows[1]["Facegate stamp"]


def test_a_moderators_rejection_waits_out_the_grace_period_then_deletes(
    faces: FaceService, stores: Stores, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    fake = FakeNocoDB()
    service, job = _in_review(fake, stores, faces, monkeypatch, grace_seconds=GRACE)
    fake.rows[1]["Status"] = "rejected"  # a moderator, in NocoDB's grid
    job = _recheck(stores, job, "review")
    settled = REVIEWS_SETTLED.labels(outcome="rejected")._value.get()
    verdicts = VERDICTS.labels(source="moderator", decision="rejected", reason="moderator")._value.get()
    job, deferred = _deferred(service, stores, job)
    assert deferred.until == clock.now + GRACE
    assert 1 in fake.rows and fake.rows[1]["Facegate"].splitlines()[-1] == (
        "Rejected by a moderator at 2027-01-15 08:00 UTC: the row is deleted at 2027-01-15 08:10 UTC"
        " unless its Status is changed back."
    )
    clock.now += GRACE / 2  # brought forward by its own note's update event: still waiting
    job, _ = _deferred(service, stores, job)
    assert REVIEWS_SETTLED.labels(outcome="rejected")._value.get() == settled + 1  # counted once
    assert (
        VERDICTS.labels(source="moderator", decision="rejected", reason="moderator")._value.get()
        == verdicts + 1
    )
    clock.now += GRACE / 2
    assert _run(service, job) == "deleted"
    assert 1 not in fake.rows and stores.purges.for_row(job.row_key) is not None
    assert [(d.source, d.decision, d.action) for d in stores.decisions.decisions()] == [
        ("moderator", "rejected", "deleted"),
        ("facegate", "review", "review"),
    ]


def test_a_rejection_changed_back_to_approved_in_time_publishes_the_row(
    faces: FaceService, stores: Stores, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    fake = FakeNocoDB()
    service, job = _in_review(fake, stores, faces, monkeypatch, grace_seconds=GRACE)
    waits = REVIEW_WAIT_SECONDS._sum.get()
    clock.now += 120
    fake.rows[1]["Status"] = "rejected"  # a misclick ...
    job, _ = _deferred(service, stores, _recheck(stores, job, "review"))
    assert REVIEW_WAIT_SECONDS._sum.get() == waits + 120
    fake.rows[1]["Status"] = "approved"  # ... taken back
    assert _run(service, job) == "approved"
    assert 1 in fake.rows and len(stores.approvals.approvals()) == 1
    assert fake.rows[1]["Facegate"].splitlines()[-1] == "Approved by a moderator at 2027-01-15 08:02 UTC."
    assert stores.queue.finish(job)
    clock.now += GRACE  # nothing is left to delete it
    assert stores.queue.claim(1) == []


def test_a_rejection_changed_back_to_review_waits_and_a_new_one_has_its_own_grace(
    faces: FaceService, stores: Stores, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    fake = FakeNocoDB()
    service, job = _in_review(fake, stores, faces, monkeypatch, grace_seconds=GRACE)
    fake.rows[1]["Status"] = "rejected"
    job, _ = _deferred(service, stores, _recheck(stores, job, "review"))
    clock.now += 60
    fake.rows[1]["Status"] = "review"
    assert _run(service, job) == "review"
    assert fake.rows[1]["Facegate"].splitlines()[-1] == (
        "A moderator's rejection was taken back at 2027-01-15 08:01 UTC."
    )
    clock.now += GRACE
    fake.rows[1]["Status"] = "rejected"  # later, on purpose: a full grace period from now
    _, deferred = _deferred(service, stores, _recheck(stores, job, "review"))
    assert deferred.until == clock.now + GRACE and 1 in fake.rows


def test_with_flag_a_moderators_rejection_keeps_the_row_at_once(
    faces: FaceService, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeNocoDB()
    service, job = _in_review(
        fake, stores, faces, monkeypatch, grace_seconds=GRACE, on_reject=RejectAction.FLAG
    )
    fake.rows[1]["Status"] = "rejected"
    assert _run(service, _recheck(stores, job, "review")) == "flagged"
    assert fake.rows[1]["Facegate"].splitlines()[-1].startswith("Rejected by a moderator at ")


def test_a_table_without_the_note_column_gets_its_status_and_no_note_loop(
    faces: FaceService, stores: Stores, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Attached before notes existed, bootstrap not run again: NocoDB would drop the note, and each of
    # facegate's writes fires an update event; writing it again on each would never end.
    fake = FakeNocoDB(note_column=False)
    service, job = _in_review(fake, stores, faces, monkeypatch)
    assert fake.rows[1]["Status"] == "review" and "Facegate" not in fake.rows[1]
    writes = len(fake.actions())
    assert _run(service, _recheck(stores, job, "review")) == "review"  # its own update event
    assert len(fake.actions()) == writes
    assert "has no column 'Facegate'" in caplog.text


def test_a_row_read_as_gone_once_and_there_after_is_never_deleted(faces: FaceService, stores: Stores) -> None:
    # NocoDB answers {} for some missing rows: a {} for a live row must not end in a deletion.
    fake = FakeNocoDB()
    row = fake.add(1, "obama", ("a.jpg", sample("biden.jpg")))  # decided, it would be deleted (no_match)
    job = queued_job(stores.queue, row)
    reads = 0

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal reads
        if request.method == "GET" and request.url.path.endswith("/records/1"):
            reads += 1
            if reads == 1:
                return httpx.Response(200, json={})
        return fake.handler(request)

    service = moderation_service(httpx.MockTransport(flaky), stores, faces)
    with pytest.raises(NocoDBUnavailable, match="lists it"):  # the records list still has it: asked again
        asyncio.run(service.process(job))
    assert stores.decisions.decisions() == [] and 1 in fake.rows and fake.actions() == []
    assert asyncio.run(service.process(job)) == "deleted"  # then decided as any row (no_match)


def test_the_download_fetches_only_the_file_proved_the_rows_own(faces: FaceService, stores: Stores) -> None:
    # A forged cell proves one file by its path and names a private photo by its url: were the path
    # refused, the download must not fall through to the url.
    fake = FakeNocoDB()
    private = fake.add(2, "obama", ("private.jpg", sample("obama2.jpg")))["Image"][0]["path"]
    row = fake.add(1, "obama", ("a.jpg", sample("obama3.jpg")))
    row["Image"][0]["url"] = f"{BASE}/{private}"
    del fake.files[row["Image"][0]["path"]]
    with pytest.raises(NocoDBUnavailable):  # the proved file not served: waited out
        _run(_service(fake, stores, faces), _job(stores, row))
    assert ("GET", f"/{private}") not in fake.calls and fake.actions() == []
