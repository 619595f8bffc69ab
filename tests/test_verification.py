from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.errors import NotReady, ReferenceSetError
from app.faces.pool import Analysis
from app.faces.renditions import Renditions
from app.outcomes import Decision, Reason
from app.politicians.references import EncodingCache
from app.verification import FaceService
from harness.images import sample


def test_not_ready_until_references_load_and_the_error_is_reported(tmp_path: Path) -> None:
    service = FaceService(
        pool=None,  # type: ignore[arg-type]  # the folder is refused before any image is analysed
        reference_dir=tmp_path / "missing",
        cache=EncodingCache(tmp_path / "cache", {}),
        default_tolerance=0.6,
    )
    with pytest.raises(ReferenceSetError):
        asyncio.run(service.reload())
    assert not service.ready
    with pytest.raises(NotReady) as info:
        _ = service.references
    assert "does not exist" in str(info.value.detail)
    assert info.value.status_code == 503


def test_an_approved_picture_brings_the_renditions_the_main_process_would_make(faces: FaceService) -> None:
    data = sample("obama2.jpg")
    checked = asyncio.run(faces.verify_image(data, "obama", renditions=True))
    assert (checked.verdict.decision, checked.problem) == (Decision.APPROVED, None)
    # Rendered in the worker from the pixels it decoded for the faces: the very JPEGs of a second decode.
    assert checked.renditions == Renditions(faces.pool.limits).make(data)


def test_renditions_only_when_asked_and_only_with_an_approval(faces: FaceService) -> None:
    unasked = asyncio.run(faces.verify_image(sample("obama2.jpg"), "obama", renditions=False))
    assert (unasked.verdict.decision, unasked.renditions) == (Decision.APPROVED, None)
    rejected = asyncio.run(faces.verify_image(sample("biden.jpg"), "obama", renditions=True))
    assert (rejected.verdict.reason, rejected.renditions) == (Reason.NO_MATCH, None)
    unreadable = asyncio.run(faces.verify_image(b"junk", "obama", renditions=True))
    assert (unreadable.verdict.reason, unreadable.renditions) == (Reason.UNREADABLE_IMAGE, None)
    assert unreadable.problem


def test_an_approved_picture_the_worker_cannot_render_is_not_approved(
    faces: FaceService, monkeypatch: pytest.MonkeyPatch
) -> None:
    analyse = faces.pool.analyse

    async def unrenderable(data: bytes, *, renditions: bool) -> Analysis:
        found = await analyse(data, renditions=renditions)
        return Analysis(found.faces, unrenderable="The image cannot be rendered: a test's refusal.")

    monkeypatch.setattr(faces.pool, "analyse", unrenderable)
    checked = asyncio.run(faces.verify_image(sample("obama2.jpg"), "obama", renditions=True))
    verdict = checked.verdict
    assert (verdict.decision, verdict.reason, verdict.politician) == (
        Decision.REJECTED,
        Reason.UNREADABLE_IMAGE,
        "obama",
    )
    assert len(verdict.faces) == 1 and checked.problem == "The image cannot be rendered: a test's refusal."
    assert checked.renditions is None
