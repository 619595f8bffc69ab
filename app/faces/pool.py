"""The worker processes that run dlib: one ``FaceEngine`` per process, loaded once.

dlib is not thread-safe and holds the GIL for long stretches, so facegate parallelises by process.
The pool is started with ``spawn`` (no fork of a running event loop) and warmed up before use.
A worker decodes each picture once: for its faces and, when asked, for its carousel renditions
(``app.faces.renditions``), so the main process never decodes a picture it moderates. What comes
back is plain frozen dataclasses (``FoundFaces``, ``Analysis``).

Each worker process has an executor of its own and takes one picture at a time: a picture that
hangs its worker past the timeout, or crashes it, costs that one process (killed and started again)
and fails that one call (``AnalysisFailed``); the pictures on the other workers go on.
"""

from __future__ import annotations

import asyncio
import io
import logging
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from PIL import Image

from app.errors import AnalysisFailed, FacesUnavailable
from app.faces.engine import EngineConfig, FaceEngine, FoundFaces
from app.faces.intake import DecodedImage, Limits, decode
from app.faces.renditions import Rendition, render
from app.metrics import ANALYSIS_SECONDS

__all__ = ["DEFAULT_TIMEOUT", "Analysis", "FacePool"]

# Generous: any picture within the intake's limits, a 50 MP crowd included, is analysed in about 2 s
# on these machines (README, "Security").
DEFAULT_TIMEOUT = 60.0
# After a failure, a fresh worker must analyse a blank picture within this (its models load first).
CANARY_TIMEOUT = 30.0

log = logging.getLogger(__name__)

_engine: FaceEngine | None = None
_T = TypeVar("_T")


@dataclass(frozen=True)
class Analysis:
    """A worker's answer on one picture: its faces and, when asked for and exactly one face was found
    (the only kind of picture that can be approved), its carousel renditions as JPEG bytes, made from
    the pixels decoded for the faces. ``unrenderable`` says why there are none when Pillow could not
    make them."""

    faces: FoundFaces
    renditions: dict[Rendition, bytes] | None = None
    unrenderable: str | None = None


def _init_worker(config: EngineConfig) -> None:
    global _engine
    _engine = FaceEngine(config)


def _analyse(data: bytes, limits: Limits, renditions: bool) -> Analysis:
    assert _engine is not None, "worker not initialised"
    decoded = decode(data, limits)
    faces = _engine.find_faces(decoded)
    if renditions and len(faces.boxes) == 1:
        return _rendered(faces, decoded)
    return Analysis(faces)


def _rendered(faces: FoundFaces, decoded: DecodedImage) -> Analysis:
    try:
        return Analysis(faces, render(decoded.image))
    except MemoryError:
        raise  # the worker's state, not the picture's: see ``FacePool._call``
    except Exception as exc:  # Pillow's many exception types: the picture is not approved, the job goes on
        return Analysis(faces, unrenderable=f"The image cannot be rendered: {exc}")


def _ready() -> bool:
    return _engine is not None


@cache
def _blank() -> bytes:
    """A small grey PNG: any worker that works analyses it at once (no face)."""
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (128, 128, 128)).save(out, "PNG")
    return out.getvalue()


class FacePool:
    """Runs ``decode`` + ``FaceEngine.find_faces`` (+ ``render``) in ``workers`` processes, one
    picture per process at a time; more calls wait for a free worker.

    A call that takes longer than ``timeout`` seconds, or whose worker dies under it (killed, or
    crashed in native code), raises ``AnalysisFailed`` and costs that worker a restart; a worker found
    dead before a call (killed while idle) is replaced and the call goes on.
    """

    def __init__(
        self, *, config: EngineConfig, limits: Limits, workers: int, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self.config = config
        self.limits = limits
        self.workers = workers
        self.timeout = timeout
        self._executors = [self._new_executor() for _ in range(workers)]
        self._idle: asyncio.Queue[int] | None = None
        self._idle_loop: asyncio.AbstractEventLoop | None = None

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.config,),
        )

    def _idle_workers(self) -> asyncio.Queue[int]:
        """The indexes of the workers free to take a picture. Made for the running event loop: an
        asyncio queue belongs to one loop, and the tests and commands run the pool under several."""
        loop = asyncio.get_running_loop()
        if self._idle is None or self._idle_loop is not loop:
            self._idle, self._idle_loop = asyncio.Queue(), loop
            for index in range(self.workers):
                self._idle.put_nowait(index)
        return self._idle

    async def warm_up(self) -> None:
        """Start every worker and load its models now, not on the first upload."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(executor, _ready) for executor in self._executors))

    async def find_faces(self, data: bytes) -> FoundFaces:
        """Decode one image and find its faces; raises ``ImageRejected`` for bad bytes."""
        return (await self.analyse(data, renditions=False)).faces

    async def analyse(self, data: bytes, *, renditions: bool) -> Analysis:
        """Decode one image, find its faces and, with ``renditions`` and exactly one face, make its
        carousel renditions from the same pixels; raises ``ImageRejected`` for bad bytes and
        ``AnalysisFailed`` when the worker hangs or dies on it."""
        with ANALYSIS_SECONDS.time():
            return await self._call(_analyse, data, self.limits, renditions)

    async def _call(self, function: Callable[..., _T], *args: Any) -> _T:
        """``function(*args)`` on a free worker, within ``timeout`` seconds of starting there."""
        idle = self._idle_workers()
        index = await idle.get()
        loop = asyncio.get_running_loop()
        try:
            try:
                future = loop.run_in_executor(self._executors[index], function, *args)
            except BrokenProcessPool:  # it died while idle (killed, out of memory): not this picture
                future = loop.run_in_executor(self._replace(index, kill=False), function, *args)
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError as exc:
            failed = f"Analysing the image took more than {self.timeout:.0f} s."
            await self._blame_the_picture(index, failed, kill=True)
            raise AnalysisFailed(failed) from exc
        except BrokenProcessPool as exc:
            failed = "The face worker stopped while analysing the image."
            await self._blame_the_picture(index, failed, kill=False)
            raise AnalysisFailed(failed) from exc
        except MemoryError as exc:  # the worker's memory may be in pieces: a fresh one, as for a crash
            failed = "The face worker ran out of memory while analysing the image."
            await self._blame_the_picture(index, failed, kill=True)
            raise AnalysisFailed(failed) from exc
        except asyncio.CancelledError:
            # The caller gave up (shutdown, a job taken over): its worker may still be busy with the
            # picture, and the next picture must not wait for it, nor be blamed for its time.
            self._replace(index, kill=True)
            raise
        finally:
            idle.put_nowait(index)

    async def _blame_the_picture(self, index: int, failed: str, *, kill: bool) -> None:
        """Replace worker ``index``; return when the fresh worker analyses a blank picture: the
        failure was the picture's (``AnalysisFailed``, which rejects it after a few). Raises
        ``FacesUnavailable`` when that fails too: the workers cannot start or analyse anything
        (memory, the models, a timeout set too short), which is facegate's outage, never a reason to
        reject an upload."""
        fresh = self._replace(index, kill=kill)
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(fresh, _analyse, _blank(), self.limits, False)
            await asyncio.wait_for(future, max(self.timeout, CANARY_TIMEOUT))
        except asyncio.CancelledError:
            self._replace(index, kill=True)  # the next picture must not wait behind the blank one
            raise
        except Exception as exc:  # a timeout, a broken pool, a model that does not load
            unavailable = FacesUnavailable(
                f"{failed} A fresh face worker failed on a blank picture too ({type(exc).__name__}):"
                " the workers cannot analyse anything now (memory, the models,"
                " FACEGATE_ANALYSIS_TIMEOUT_SECONDS); the row waits"
            )
            log.error("%s", unavailable.message)
            raise unavailable from exc

    def _replace(self, index: int, *, kill: bool) -> ProcessPoolExecutor:
        """A fresh worker in place of worker ``index``, loading its models at once; the old one's
        process is killed with ``kill`` (a stuck worker never returns)."""
        broken = self._executors[index]
        fresh = self._executors[index] = self._new_executor()
        fresh.submit(_ready)
        if kill:
            for process in list(getattr(broken, "_processes", {}).values()):
                process.kill()
        broken.shutdown(wait=False, cancel_futures=True)
        return fresh

    def close(self, grace: float = 10.0) -> None:
        """Stop the workers: those still busy after ``grace`` seconds are killed."""
        processes = [
            process
            for executor in self._executors
            for process in list(getattr(executor, "_processes", {}).values())
        ]
        for executor in self._executors:
            executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + grace
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
