"""What a face worker answers for one picture (the faces, and the renditions of a one-face picture),
and what a picture that hangs or kills its worker costs: that worker, that call, nothing else."""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from PIL import Image

from app.errors import AnalysisFailed, FacesUnavailable, ServiceError
from app.faces.engine import FoundFaces
from app.faces.intake import DecodedImage
from app.faces.matcher import ENCODING_DIM
from app.faces.pool import FacePool, _rendered
from app.faces.renditions import Rendition
from app.verification import FaceService
from harness.images import sample, side_by_side
from tests.utils.faces import CONFIG, LIMITS


@pytest.fixture(scope="module")
def pool() -> Iterator[FacePool]:
    """A pool of two workers of its own: these tests kill its processes."""
    pool = FacePool(config=CONFIG, limits=LIMITS, workers=2)
    yield pool
    pool.close()


def _kill(pool: FacePool, index: int) -> None:
    for process in list(pool._executors[index]._processes.values()):
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)


def test_a_one_face_picture_is_rendered_from_the_pixels_decoded_for_its_faces(faces: FaceService) -> None:
    analysis = asyncio.run(faces.pool.analyse(sample("obama2.jpg"), renditions=True))
    assert len(analysis.faces.boxes) == 1 and analysis.unrenderable is None
    assert analysis.renditions is not None and set(analysis.renditions) == set(Rendition)
    assert all(jpeg[:2] == b"\xff\xd8" for jpeg in analysis.renditions.values())


def test_no_renditions_unless_asked_or_for_other_face_counts(faces: FaceService) -> None:
    pool = faces.pool
    assert asyncio.run(pool.analyse(sample("obama2.jpg"), renditions=False)).renditions is None
    two = asyncio.run(pool.analyse(side_by_side("obama2.jpg", "biden.jpg"), renditions=True))
    assert len(two.faces.boxes) == 2 and two.renditions is None
    none = asyncio.run(pool.analyse(sample("cat.png"), renditions=True))
    assert none.faces.boxes == [] and none.renditions is None


def test_a_picture_pillow_cannot_render_is_reported_not_raised() -> None:
    # JPEG has no alpha: Pillow refuses RGBA (decoded pictures are RGB; this stands for any refusal).
    decoded = DecodedImage(image=Image.new("RGBA", (8, 8)), width=8, height=8, format="PNG")
    analysis = _rendered(FoundFaces([], np.empty((0, ENCODING_DIM)), 8, 8), decoded)
    assert analysis.renditions is None
    assert (analysis.unrenderable or "").startswith("The image cannot be rendered: ")


def test_a_worker_killed_while_idle_is_replaced_and_no_picture_fails(pool: FacePool) -> None:
    async def scenario() -> None:
        await pool.warm_up()
        executor = pool._executors[0]
        _kill(pool, 0)
        for _ in range(100):  # the executor notices its process is gone
            if executor._broken:
                break
            await asyncio.sleep(0.05)
        found = await asyncio.gather(*(pool.find_faces(sample("obama2.jpg")) for _ in range(3)))
        assert [len(f.boxes) for f in found] == [1, 1, 1]
        assert pool._executors[0] is not executor

    asyncio.run(scenario())


def test_a_worker_killed_under_a_picture_fails_that_call_alone(pool: FacePool) -> None:
    async def scenario() -> None:
        await pool.warm_up()
        stuck = asyncio.create_task(pool._call(time.sleep, 30))  # takes worker 0, the first free
        await asyncio.sleep(1.0)
        other = asyncio.create_task(pool._call(time.sleep, 2))  # on worker 1
        await asyncio.sleep(0.5)
        _kill(pool, 0)
        with pytest.raises(AnalysisFailed, match="stopped"):
            await stuck
        await other  # finished, unharmed
        assert len((await pool.find_faces(sample("obama2.jpg"))).boxes) == 1

    asyncio.run(scenario())


def test_a_stuck_picture_times_out_alone_and_the_pool_recovers(pool: FacePool) -> None:
    async def scenario() -> None:
        await pool.warm_up()
        saved, pool.timeout = pool.timeout, 4.0
        try:
            started = time.monotonic()
            stuck = asyncio.create_task(pool._call(time.sleep, 30))
            await asyncio.sleep(2.0)
            # In flight on the other worker when the stuck one is killed (at 4 s), and untouched by it.
            other = asyncio.create_task(pool._call(time.sleep, 3))
            ended: list[float] = []
            other.add_done_callback(lambda _: ended.append(time.monotonic() - started))
            with pytest.raises(AnalysisFailed, match="took more than 4 s"):
                await stuck
            await other  # finished, unharmed
            assert ended[0] > pool.timeout  # after the stuck one was killed
        finally:
            pool.timeout = saved
        assert len((await pool.find_faces(sample("obama2.jpg"))).boxes) == 1

    asyncio.run(scenario())


def test_a_stuck_analysis_times_out_and_the_pool_recovers(pool: FacePool) -> None:
    async def scenario() -> None:
        saved, pool.timeout = pool.timeout, 0.001
        try:
            with pytest.raises(ServiceError, match="took more than"):
                await pool.find_faces(sample("obama3.jpg"))
        finally:
            pool.timeout = saved
        assert len((await pool.find_faces(sample("obama2.jpg"))).boxes) == 1

    asyncio.run(scenario())


def test_workers_that_cannot_analyse_anything_are_an_outage_not_the_pictures_fault() -> None:
    # Workers that die at start (models missing, no memory): were each failure counted against the
    # picture, every upload would be rejected in turn as analysis_failed, and deleted.
    broken = FacePool(config=dataclasses.replace(CONFIG, detect_max_side=-1), limits=LIMITS, workers=1)
    broken._new_executor = lambda: ProcessPoolExecutor(  # type: ignore[method-assign]
        max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_fail_to_start
    )
    broken._executors = [broken._new_executor()]
    try:
        with pytest.raises(FacesUnavailable, match="blank picture too"):
            asyncio.run(broken.find_faces(sample("obama2.jpg")))
    finally:
        broken.close()


def test_a_picture_that_kills_its_worker_is_still_the_pictures_fault(pool: FacePool) -> None:
    async def scenario() -> None:
        await pool.warm_up()
        with pytest.raises(AnalysisFailed, match="stopped"):
            await pool._call(os._exit, 3)  # the picture's doing: a fresh worker analyses a blank one
        assert len((await pool.find_faces(sample("obama2.jpg"))).boxes) == 1

    asyncio.run(scenario())


def _fail_to_start() -> None:
    raise RuntimeError("the models cannot be loaded")


def test_running_out_of_memory_is_a_failed_analysis_not_an_unreadable_picture(pool: FacePool) -> None:
    # A MemoryError read as "cannot be decoded" would reject the upload at once, on the machine's state.
    async def scenario() -> None:
        await pool.warm_up()
        with pytest.raises(AnalysisFailed, match="ran out of memory"):
            await pool._call(_out_of_memory)
        assert len((await pool.find_faces(sample("obama2.jpg"))).boxes) == 1

    asyncio.run(scenario())


def _out_of_memory() -> None:
    raise MemoryError
